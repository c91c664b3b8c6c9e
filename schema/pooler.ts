// Values for the connection poolers (PgBouncer per shard, or PgDog as the sharding router).
import { annotations, bool, int, labels, list, map, num, obj, oneOf, resources, role, str, SUBDOMAIN_OR_EMPTY, type Schema } from './dsl.ts';
import { image } from './core.ts';

const IDENT = '^[a-z_][a-z0-9_$]{0,62}$';

export const pooler: Record<string, Schema> = {
  pooler: obj('Connection pooler in front of every shard. Applications connect to the pooler, never to the database pods.', {
    type: oneOf(
      '`pgbouncer`: read-write and read-only PgBouncer per shard; `pgdog`: one sharding-aware PgDog router; `none`: ' + 'bring your own.',
      ['pgbouncer', 'pgdog', 'none'],
      'pgbouncer',
    ),
    existingSecret: str(
      "Secret holding `pooler-admin-password` and `pooler-stats-password` for the pooler's own admin and stats " +
        'roles. Empty: `auth.existingSecret` when that is set (add the two keys to it), otherwise the chart generates ' +
        'one and reuses it on upgrade.',
      '',
      { pattern: '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$' },
    ),
    adminUser: role(
      'Pooler-local admin role (PgBouncer `admin_users`, PgDog `[admin] user`). It is not a PostgreSQL role; the ' +
        'failover callback uses it to send `RECONNECT`.',
      'pgfleet_pooler_admin',
    ),
    statsUser: role('Pooler-local read-only stats role (PgBouncer `stats_users`) for exporters.', 'pgfleet_pooler_stats'),
    podAnnotations: annotations('Extra annotations on pooler pods.'),
    podAntiAffinity: oneOf("Spread a pooler's pods across nodes: `soft` (preferred), `hard` (required) or `none`.", ['soft', 'hard', 'none'], 'soft'),
    nodeSelector: labels('Node selector of pooler pods.'),
    tolerations: list('Tolerations of pooler pods.', { type: 'object' }),
    priorityClassName: str('PriorityClass of pooler pods.', '', { pattern: SUBDOMAIN_OR_EMPTY, maxLength: 253 }),
    service: obj('Pooler Services.', {
      type: oneOf('Service type.', ['ClusterIP', 'NodePort', 'LoadBalancer'], 'ClusterIP'),
      annotations: annotations('Service annotations.'),
    }),

    pgbouncer: obj(
      'PgBouncer: per shard a read-write Deployment (to `<shard>-primary`) and a read-only one (to ' +
        '`<shard>-replicas`, or the primary when `replicas: 0`).',
      {
        image: image(
          "PgBouncer image (CloudNativePG's maintained build: Debian, non-root uid 998, PgBouncer from PGDG).",
          'ghcr.io/cloudnative-pg/pgbouncer',
          '1.25.2',
        ),
        replicas: int('Pods per pool (each shard has a read-write and a read-only pool).', 2, { minimum: 1, maximum: 20 }),
        poolMode: oneOf(
          '`transaction` (default; session state does not survive a transaction), `session` or `statement`.',
          ['transaction', 'session', 'statement'],
          'transaction',
        ),
        maxClientConn: int('Client connections each PgBouncer pod accepts.', 1000, { minimum: 1, maximum: 100000 }),
        defaultPoolSize: int('Server connections per user and database pair, per pod.', 20, { minimum: 1, maximum: 10000 }),
        minPoolSize: int('Server connections kept open per pool even when idle.', 0, { minimum: 0, maximum: 10000 }),
        reservePoolSize: int('Extra server connections allowed when a client has waited `reservePoolTimeout` seconds.', 5, { minimum: 0, maximum: 10000 }),
        reservePoolTimeout: int('Seconds a client waits before the reserve pool is used.', 3, { minimum: 0, maximum: 3600 }),
        maxDbConnections: int('Cap on server connections per database, per pod (0: no cap).', 0, { minimum: 0, maximum: 100000 }),
        serverLifetime: int(
          'Seconds after which an idle server connection is closed and reopened. Moderate by default so a connection that ' +
            'slipped past the failover callback cannot stay pinned for long.',
          600,
          { minimum: 30, maximum: 86400 },
        ),
        serverIdleTimeout: int('Seconds an unused server connection is kept.', 300, { minimum: 10, maximum: 86400 }),
        serverLoginRetry: num(
          'Seconds (fractions allowed) PgBouncer waits before retrying a failed server login. During a failover the first ' +
            'attempts fail while the `-primary` Service has no ready endpoint: a short retry lets the waiting clients reach ' +
            'the new primary as soon as the Service has moved, instead of up to a second later.',
          0.25,
          { minimum: 0.1, maximum: 60 },
        ),
        serverConnectTimeout: int('Seconds to wait for a server connection (TCP + TLS + login).', 5, { minimum: 1, maximum: 120 }),
        queryWaitTimeout: int('Seconds a client may wait for a server connection before it is disconnected (0: forever).', 120, { minimum: 0, maximum: 86400 }),
        clientIdleTimeout: int('Seconds an idle client connection is kept (0: forever).', 0, { minimum: 0, maximum: 86400 }),
        ignoreStartupParameters: list(
          'Startup parameters PgBouncer ignores instead of refusing the client (JDBC sends `extra_float_digits`).',
          { type: 'string', pattern: '^[a-z_][a-z0-9_]*$' },
          ['extra_float_digits'],
          { uniqueItems: true },
        ),
        maxPreparedStatements: {
          type: ['integer', 'null'],
          minimum: 0,
          maximum: 100000,
          description:
            'Protocol-level prepared statements tracked per server connection in transaction mode (PgBouncer >= 1.21). ' +
            "`null` omits the key: PgBouncer's default applies (200 since 1.24) and older PgBouncers still start.",
          default: null,
        },
        serverTLSSslmode: oneOf(
          'How PgBouncer verifies the database certificate against the cluster CA when `tls.enabled` (with TLS off it ' + 'connects without TLS).',
          ['verify-full', 'verify-ca', 'require'],
          'verify-full',
        ),
        clientTLS: obj('TLS between applications and PgBouncer.', {
          sslmode: oneOf(
            'PgBouncer `client_tls_sslmode`: `auto` (`require` when `tls.enabled`, else `disable`: TLS for every network ' +
              'connection whenever the chart serves TLS), `disable`, `allow`, `prefer` or `require`.',
            ['auto', 'disable', 'allow', 'prefer', 'require'],
            'auto',
          ),
          existingSecret: str(
            "kubernetes.io/tls Secret for client TLS. Empty: the release's TLS Secret (needs `tls.enabled`; with " +
              '`tls.provider: helm` or `cert-manager` its names include the PgBouncer Services, so clients can use ' +
              '`sslmode=verify-full` with the release CA).',
            '',
            { pattern: '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$' },
          ),
        }),
        logConnections: bool('Log every client connection and disconnection.', false),
        applicationNameAddHost: bool(
          "Append the client's address and port to `application_name` (PgBouncer `application_name_add_host`). Off by " +
            "default: it makes every client's `application_name` unique, so in transaction mode PgBouncer sends a `SET " +
            'application_name` before almost every transaction (one more round trip and statement each); `npm run bench` ' +
            'measured it at about half the pooled throughput of persistent clients (docs/benchmarks.md).',
          false,
        ),
        resources: resources('Resources of the PgBouncer container (requests and limits).', { cpu: '50m', memory: '64Mi' }, { memory: '256Mi' }),
        terminationGracePeriodSeconds: int(
          'Grace period: the pod leaves its Service, then PgBouncer shuts down safely (waits for transactions to finish).',
          45,
          { minimum: 10, maximum: 3600 },
        ),
      },
    ),

    pgdog: obj('PgDog: one sharding-aware router Deployment that knows every shard through its `-primary` and `-replicas` Services.', {
      image: image('PgDog image (official).', 'ghcr.io/pgdogdev/pgdog', 'v0.1.59'),
      replicas: int('PgDog pods.', 2, { minimum: 1, maximum: 20 }),
      workers: int('Tokio worker threads per pod (two per CPU is recommended).', 2, { minimum: 1, maximum: 64 }),
      poolerMode: oneOf('`transaction` (default), `session` or `statement`.', ['transaction', 'session', 'statement'], 'transaction'),
      defaultPoolSize: int('Server connections per database pool (each shard primary and replica), per pod.', 10, { minimum: 1, maximum: 10000 }),
      minPoolSize: int('Server connections kept open per pool.', 1, { minimum: 0, maximum: 10000 }),
      readWriteSplit: oneOf(
        'Where reads go: `include_primary` (replicas and primary), `exclude_primary` (replicas only), ' + '`include_primary_if_replica_banned`.',
        ['include_primary', 'exclude_primary', 'include_primary_if_replica_banned'],
        'include_primary',
      ),
      readWriteStrategy: oneOf(
        'How PgDog classifies queries: `conservative` (transactions go to the primary) or `aggressive`.',
        ['conservative', 'aggressive'],
        'conservative',
      ),
      loadBalancingStrategy: oneOf("How reads are spread over a shard's hosts.", ['random', 'round_robin', 'least_active_connections'], 'round_robin'),
      shardedTables: list(
        'Sharded tables, rendered to `[[sharded_tables]]`: rows are routed by the hash of `column`. Tables not listed ' +
          'are omnisharded (same data on every shard).',
        obj(
          'A sharded table.',
          {
            database: str('Database the table lives in; empty means `postgresql.database`.', '', { pattern: '^([a-z_][a-z0-9_]{0,62})?$' }),
            table: str('Table name.', '', { pattern: IDENT }),
            column: str('Sharding key column.', '', { pattern: IDENT }),
            dataType: oneOf('Type of the sharding key.', ['bigint', 'uuid', 'varchar'], 'bigint'),
          },
          { required: ['table', 'column', 'dataType'] },
        ),
      ),
      allowReshard: bool(
        'Allow changing `shards` on an installed release. Hash sharding maps a key to `hash mod shards`, so a new shard ' +
          'count sends existing keys to shards that do not hold their rows: move the data first.',
        false,
      ),
      openMetricsPort: int('OpenMetrics (Prometheus) port.', 9090, { minimum: 1024, maximum: 65535 }),
      healthcheckPort: int('HTTP health check port (for load balancers).', 8080, { minimum: 1024, maximum: 65535 }),
      shutdownTimeout: int('Milliseconds PgDog waits for active clients to finish on shutdown.', 30000, { minimum: 0, maximum: 3600000 }),
      resources: resources('Resources of the PgDog container (requests and limits).', { cpu: '100m', memory: '128Mi' }, { memory: '512Mi' }),
    }),
  }),
};
