// Values for the shards themselves: topology, Patroni, PostgreSQL, storage, scheduling, security.
import {
  annotations,
  bool,
  CIDR,
  int,
  K8S_NAME,
  LABEL_KEY,
  labels,
  list,
  map,
  obj,
  oneOf,
  QUANTITY,
  REGISTRY,
  REGISTRY_PREFIX,
  REPOSITORY,
  resources,
  role,
  str,
  SUBDOMAIN,
  SUBDOMAIN_OR_EMPTY,
  TAG,
  type Schema,
} from './dsl.ts';
import { parametersSchema } from './pg-settings.ts';
import { IMAGE_TAG } from '../scripts/lib/versions.ts';

export const image = (description: string, repository: string, tag: string): Schema =>
  obj(description, {
    registry: str('Image registry: a host name, optionally with `:port`.', repository.split('/')[0]!, { pattern: REGISTRY, maxLength: 255 }),
    repository: str(
      'Image repository, without the registry: lower-case path components. A first component that names a host ' +
        '(`localhost`, or one with a `.`, as in `ghcr.io/...`) is refused: the registry belongs in `registry`, and a ' +
        'container runtime would read it as a second registry.',
      repository.split('/').slice(1).join('/'),
      { pattern: REPOSITORY, maxLength: 255, not: { pattern: REGISTRY_PREFIX } },
    ),
    tag: str('Image tag (pinned; never `latest`): up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`.', tag, {
      pattern: TAG,
      not: { const: 'latest' },
    }),
    digest: str('Image digest (`sha256:...`); when set it wins over the tag.', '', { pattern: '^(sha256:[a-f0-9]{64})?$' }),
    pullPolicy: oneOf('Image pull policy.', ['IfNotPresent', 'Always', 'Never'], 'IfNotPresent'),
  });

export const core: Record<string, Schema> = {
  global: { type: 'object', description: 'Global values shared with parent charts (free-form).', default: {} },
  nameOverride: str('Replaces the chart name in object names.', '', { pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$', maxLength: 30 }),
  fullnameOverride: str('Replaces the release-derived base name of every object.', '', { pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$', maxLength: 40 }),
  commonLabels: labels('Labels added to every object (never to selectors).'),
  shards: int('Number of independent Patroni clusters (shards). Each shard has its own StatefulSet, Services, PDB and pooler.', 1, { minimum: 1, maximum: 64 }),
  replicas: int('Standbys per shard: each shard runs `replicas + 1` pods. Use 2 in production with synchronous mode.', 1, { minimum: 0, maximum: 8 }),
  image: image('PostgreSQL + Patroni + pgBackRest image (built from images/postgres/Dockerfile).', 'ghcr.io/pgfleet/postgres', IMAGE_TAG),
  imagePullSecrets: list('Image pull secrets for every pod.', {
    type: 'object',
    properties: { name: { type: 'string', pattern: SUBDOMAIN, maxLength: 253 } },
    required: ['name'],
    additionalProperties: false,
  }),

  patroni: obj('Patroni: leader election, failover and the dynamic configuration of each shard.', {
    dcs: obj('Distributed configuration store holding the leader lock.', {
      type: oneOf('`kubernetes`: ConfigMaps in the release namespace; `etcd3`: an external etcd cluster.', ['kubernetes', 'etcd3'], 'kubernetes'),
      etcd3: obj('External etcd (used when `type: etcd3`).', {
        hosts: list('etcd client endpoints as `host:port`.', { type: 'string', pattern: '^[^\\s:/]+:[0-9]{1,5}$' }),
        protocol: oneOf('Protocol to reach etcd.', ['http', 'https'], 'http'),
      }),
    }),
    ttl: int('Leader lock TTL in seconds: a hard-killed primary is replaced after at most this long. Patroni >= 4 clamps ' + 'values below 20.', 20, {
      minimum: 20,
      maximum: 300,
    }),
    loopWait: int('Seconds between Patroni HA loops.', 5, { minimum: 1, maximum: 60 }),
    retryTimeout: int('Seconds Patroni retries DCS and PostgreSQL operations before demoting. `loopWait + 2 * retryTimeout` must be ' + '<= `ttl`.', 7, {
      minimum: 3,
      maximum: 120,
    }),
    maximumLagOnFailover: int('A replica lagging more bytes than this is not promoted.', 1048576, { minimum: 0 }),
    readinessMaxLag: int(
      'A replica whose replay lags the primary by more bytes than this leaves the `-replicas` Service (its readiness ' +
        'probe, `/readiness?lag=`). Patroni 4 would otherwise use `maximumLagOnFailover` (1 MiB), so an ordinary write ' +
        'burst empties `-replicas`, fails the read-only pool and blocks node drains through the PDB. Must be >= ' +
        '`maximumLagOnFailover`.',
      268435456,
      { minimum: 1048576 },
    ),
    synchronousMode: oneOf('`off`, `on` (one synchronous standby), or `quorum` (Patroni >= 4). Needs `replicas >= 1`.', ['off', 'on', 'quorum'], 'off'),
    synchronousModeStrict: bool(
      'Refuse writes when no synchronous standby is available (never lose an acknowledged write, at the cost of ' + 'availability).',
      false,
    ),
    synchronousNodeCount: int('Number of synchronous standbys; must be <= `replicas`.', 1, { minimum: 1, maximum: 8 }),
    failsafeMode: bool('Keep the primary running while the DCS is unreachable as long as it can reach every member.', true),
    usePgRewind: bool('Rewind a demoted primary with pg_rewind instead of rebuilding it.', true),
    cleanupOnUninstall: bool(
      "Delete Patroni's leftover DCS ConfigMaps in a post-delete hook, so a reinstall with the same name does not " + 'hang on a stale system ID.',
      true,
    ),
    logLevel: oneOf('Patroni log level.', ['DEBUG', 'INFO', 'WARNING', 'ERROR'], 'INFO'),
  }),

  postgresql: obj('PostgreSQL settings.', {
    parameters: parametersSchema(
      'Extra postgresql.conf parameters, written to the DCS at bootstrap. Each name must be a PostgreSQL 15 setting ' +
        "(or an extension's `prefix.name`), each value of its type: units as PostgreSQL writes them (`kB`, `MB`, `GB`, " +
        '`ms`, `s`, `min`; never `Mi`/`Gi`), enums from its list, numbers within its bounds (a value with a unit ' +
        "converted to the setting's unit first, as PostgreSQL does). Keys the chart manages (archive_command, ssl, " +
        'listen_addresses, ...) are refused.',
      {
        max_connections: 200,
        shared_buffers: '256MB',
        wal_level: 'replica',
        wal_log_hints: 'on',
        max_wal_senders: 10,
        max_replication_slots: 10,
        wal_keep_size: '1GB',
        password_encryption: 'scram-sha-256',
        log_min_duration_statement: 1000,
        log_connections: 'on',
        log_disconnections: 'on',
      },
    ),
    database: str('Application database, owned by the application role.', 'app', { pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
    extraPgHba: list(
      "Extra pg_hba.conf lines, inserted after the chart's superuser rules and before its generic and final reject " +
        'rules. One line each: fields of letters, digits and `-_.,+/:=` separated by blanks (no quotes, `#` or ' +
        '`@file`). Network lines are `hostssl` with `scram-sha-256`, `cert` or `reject` while TLS is on (`host` without ' +
        'TLS); `local` lines use `scram-sha-256`, `peer` or `reject`; options are `map=` and `clientcert=`. No line may ' +
        'name the superuser on the network, and a `replication` line must name its roles (not `all`).',
      { type: 'string', pattern: '^(local|host|hostssl|hostnossl|hostgssenc|hostnogssenc)([ \\t]+[-A-Za-z0-9_.,+/:=]+){3,8}[ \\t]*$' },
    ),
  }),

  auth: obj('Credentials. Never put passwords in values: use an existing Secret or let the chart generate them once.', {
    existingSecret: str(
      'Secret holding the keys `superuser-password`, `replication-password`, `rewind-password`, `admin-password`, ' +
        "`app-password`, `pooler-password`, `patroni-api-password` (Patroni's REST API, user `patroni`) and " +
        '`monitor-password` (read only when `monitoring.enabled`). `helm install` and `upgrade` refuse a Secret that ' +
        'lacks one. Empty: the chart generates one and reuses it on upgrade.',
      '',
      { pattern: '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$' },
    ),
    superuser: role('Superuser name (reachable only from inside the pod).', 'postgres'),
    replicationUser: role('Replication role name.', 'replicator'),
    rewindUser: role('pg_rewind role name.', 'rewinder'),
    adminUser: role('Administrative role (CREATEDB, CREATEROLE; not a superuser).', 'admin'),
    appUser: role('Unprivileged application role owning the application database.', 'app'),
    poolerUser: role('Role the poolers authenticate as to look up client passwords (auth_query through a SECURITY DEFINER function).', 'pgfleet_pooler'),
    monitorUser: role(
      'Least-privilege role postgres_exporter connects as (LOGIN, member of `pg_monitor`, nothing else); created at ' + 'bootstrap when `monitoring.enabled`.',
      'pgfleet_monitor',
    ),
  }),

  tls: obj('TLS for PostgreSQL (server certificate; replication and clients use `hostssl`).', {
    enabled: bool('Serve TLS and require it for every network connection.', true),
    provider: oneOf(
      '`helm`: self-signed CA generated by Helm and reused on upgrade; `cert-manager`: a Certificate per release; ' + '`existingSecret`: bring your own.',
      ['helm', 'cert-manager', 'existingSecret'],
      'helm',
    ),
    existingSecret: str('kubernetes.io/tls Secret with `tls.crt`, `tls.key` and `ca.crt` (provider `existingSecret`).', '', {
      pattern: '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$',
    }),
    reloadIntervalSeconds: int(
      'How often the `tls-reload` sidecar of each database and PgBouncer pod, and the `pgbackrest` sidecar, check the ' +
        'mounted certificate files; when they changed (a cert-manager renewal, a re-issued or replaced Secret) they ' +
        'reload PostgreSQL (`pg_reload_conf()`), PgBouncer (`RELOAD`) or `pgbackrest server` (SIGHUP): no restart, no ' +
        'dropped connection. The kubelet itself takes up to about a minute to update the files.',
      30,
      { minimum: 5, maximum: 3600 },
    ),
    certManager: obj('cert-manager settings (provider `cert-manager`).', {
      issuerRef: obj('Issuer of the Certificate.', {
        name: str('Issuer name.', '', { pattern: SUBDOMAIN_OR_EMPTY, maxLength: 253 }),
        kind: oneOf('Issuer kind.', ['Issuer', 'ClusterIssuer'], 'Issuer'),
        group: str('Issuer API group.', 'cert-manager.io', { pattern: SUBDOMAIN, maxLength: 253 }),
      }),
      duration: str('Certificate lifetime.', '2160h', { pattern: '^[0-9]+(h|m|s)$' }),
    }),
  }),

  storage: obj('Persistent storage of each PostgreSQL pod.', {
    size: str('Volume size.', '10Gi', { pattern: QUANTITY }),
    storageClass: str('StorageClass; empty uses the cluster default.', '', { pattern: SUBDOMAIN_OR_EMPTY, maxLength: 253 }),
    accessModes: list('Access modes.', { type: 'string', enum: ['ReadWriteOnce', 'ReadWriteOncePod'] }, ['ReadWriteOnce'], { minItems: 1 }),
    retainOnDelete: bool('Keep PVCs when the StatefulSet is deleted or scaled down (persistentVolumeClaimRetentionPolicy Retain).', true),
  }),

  resources: resources('Resources of the PostgreSQL container (requests and limits).', { cpu: '500m', memory: '1Gi' }, { memory: '2Gi' }),
  scheduling: obj('Where pods land.', {
    podAntiAffinity: oneOf("Spread a shard's pods across nodes: `soft` (preferred), `hard` (required) or `none`.", ['soft', 'hard', 'none'], 'soft'),
    topologyKey: str('Topology key for anti-affinity (a node label key).', 'kubernetes.io/hostname', { pattern: LABEL_KEY, maxLength: 317 }),
    zoneSpread: bool('Add a topology spread constraint across `topology.kubernetes.io/zone` (ScheduleAnyway).', true),
    nodeSelector: labels('Node selector.'),
    tolerations: list('Tolerations.', { type: 'object' }),
    priorityClassName: str('PriorityClass of the database pods.', '', { pattern: SUBDOMAIN_OR_EMPTY, maxLength: 253 }),
    terminationGracePeriodSeconds: int(
      'Grace period of a database pod: the primary first hands over (preStop switchover, at most this minus 15 s), ' +
        'then Patroni stops PostgreSQL (fast shutdown).',
      60,
      { minimum: 10, maximum: 3600 },
    ),
  }),
  podLabels: labels('Extra labels on database pods (never used in selectors).'),
  podAnnotations: annotations('Extra annotations on database pods.'),

  service: obj('Per-shard Services (`-primary`, `-replicas`, headless).', {
    type: oneOf('Service type of the primary and replicas Services.', ['ClusterIP', 'NodePort', 'LoadBalancer'], 'ClusterIP'),
    annotations: annotations('Service annotations.'),
  }),
  podDisruptionBudget: obj('PodDisruptionBudget per shard.', {
    enabled: bool('Create a PDB per shard.', true),
    maxUnavailable: int('Pods of a shard that may be voluntarily evicted at once.', 1, { minimum: 1 }),
  }),
  serviceAccount: obj('ServiceAccount for Patroni (a namespaced Role, never a ClusterRole).', {
    create: bool('Create the ServiceAccount, Role and RoleBinding.', true),
    name: str('Name to use; empty derives it from the release.', '', { pattern: '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$' }),
    annotations: annotations('ServiceAccount annotations (e.g. IRSA role for S3).'),
  }),
  networkPolicy: obj('NetworkPolicies: on by default, allowing exactly the flows the chart needs.', {
    enabled: bool('Create NetworkPolicies.', true),
    allowedClients: list(
      'Extra peers (NetworkPolicyPeer objects) allowed to reach PostgreSQL and the poolers. Pods labelled ' +
        '`<fullname>-client: "true"` in the namespace are always allowed.',
      { type: 'object', minProperties: 1 },
    ),
    kubeAPIServerCIDRs: list(
      "CIDRs (IPv4 or IPv6) of the Kubernetes API server endpoints, Patroni's DCS. List the addresses behind the " +
        '`kubernetes` Service, not its ClusterIP: most NetworkPolicy implementations see the connection after ' +
        'kube-proxy has rewritten it to an endpoint (`kubectl get endpointslices -n default -l ' +
        "kubernetes.io/service-name=kubernetes -o jsonpath='{.items[*].endpoints[*].addresses[*]}'`, each as `/32` or " +
        '`/128`; add the ClusterIP too for implementations that filter before the rewrite). The default allows any ' +
        'address on `kubeAPIServerPorts`.',
      { type: 'string', pattern: CIDR },
      ['0.0.0.0/0', '::/0'],
      { minItems: 1 },
    ),
    acknowledge: obj('Network setups that expose the database or poolers more than the chart would. Each is refused unless acknowledged here.', {
      unenforcedAllowedClients: bool(
        'Accept `allowedClients` while `enabled` is false: nothing enforces the list, so every pod and (through node ' +
          'ports or load balancers) more can connect.',
        false,
      ),
      allowAllPeers: bool(
        'Accept a peer in `allowedClients` or `monitoring.prometheusSelector` that admits everything: an empty ' +
          '`namespaceSelector` (every pod of every namespace) or an `ipBlock` of `0.0.0.0/0` or `::/0`.',
        false,
      ),
      exposedWithoutPolicy: bool(
        'Accept a `NodePort` or `LoadBalancer` Service (`service.type`, `pooler.service.type`) while `enabled` is ' +
          'false: the database or pooler port is then open to whatever reaches the nodes or the load balancer.',
        false,
      ),
      blockedScrapes: bool(
        'Accept `monitoring.podMonitor.enabled` with an empty `monitoring.prometheusSelector` while `enabled` is true: ' +
          'the policies drop every scrape (for a Prometheus on the host network, which NetworkPolicy does not see).',
        false,
      ),
    }),
    kubeAPIServerPorts: list(
      'Ports of the Kubernetes API server, as its endpoints listen (after the rewrite: usually 6443, 443 on some ' + 'managed control planes).',
      { type: 'integer', minimum: 1, maximum: 65535 },
      [443, 6443],
      { minItems: 1 },
    ),
  }),
  upgradeGuards: obj(
    'Refuse, at upgrade time, changes that would lose data or break a running cluster (compared with the state ' + 'recorded at the last install/upgrade).',
    {
      allowShardRemoval: bool(
        "Allow lowering `shards`: the removed shards' StatefulSets are deleted (their PVCs are kept) and their data is " + 'no longer served.',
        false,
      ),
    },
  ),
  offlineRender: bool(
    'Set when the chart is rendered without access to the cluster and applied by another tool: Argo CD, `helm ' +
      'template | kubectl apply`. Such renders get nothing from `lookup`, so passwords and certificates the chart ' +
      'generates would be replaced on every render (the next pod restart then breaks replication and the poolers), ' +
      'and the upgrade guards cannot compare. With `true`, every setting that needs a generated secret or a Helm-only ' +
      'hook is refused, naming the value to set instead, and two renders of the same values are identical. Leave it ' +
      "`false` with `helm install`/`upgrade`, Flux's helm-controller and the k3s HelmChart, which run Helm against " +
      'the cluster.',
    false,
  ),
  tests: obj('`helm test` hooks.', {
    enabled: bool('Render the `helm test` Job that writes and reads through every shard.', true),
  }),
  kubectlImage: image("kubectl image for the uninstall cleanup hook (it removes Patroni's DCS ConfigMaps).", 'registry.k8s.io/kubectl', 'v1.34.2'),
};

export const NAME = K8S_NAME;
