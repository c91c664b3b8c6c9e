// Credentials, TLS, RBAC and NetworkPolicies.
import { X509Certificate } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { find, one, render, renderAsync, type K8sObject } from '../../scripts/lib/helm.ts';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaults, RESERVED_ROLES } from '../../schema/dsl.ts';
import { model } from '../../schema/index.ts';
import { ajvErrors, validateValues } from '../lib/ajv.ts';
import { startFakeApiServer } from '../lib/fake-apiserver.ts';
import { deepMerge } from '../lib/values.ts';

const S = 'db-pgfleet-shard-0';
const pem = (secret: any, key: string) => Buffer.from(secret.data[key], 'base64');
const envOf = (objects: any[], name = S) => one(objects, 'StatefulSet', name).spec.template.spec.containers[0].env as any[];

const secrets = suite('credentials');
secrets('generated once: every key present, 32 random characters, kept on uninstall', () => {
  const { objects } = render();
  const s = one(objects, 'Secret', 'db-pgfleet-auth');
  assert.equal(Object.keys(s.data).sort(), [
    'admin-password',
    'app-password',
    'monitor-password',
    'patroni-api-password',
    'pooler-password',
    'replication-password',
    'rewind-password',
    'superuser-password',
  ]);
  for (const v of Object.values<string>(s.data)) assert.is(Buffer.from(v, 'base64').toString().length, 32);
  assert.is(s.metadata.annotations['helm.sh/resource-policy'], 'keep');
  assert.is(new Set(Object.values(s.data)).size, 8, 'every password differs');
});
secrets("Patroni's REST API asks for credentials from the auth Secret (Patroni reads PATRONI_RESTAPI_USERNAME/PASSWORD into restapi.authentication)", () => {
  const env = Object.fromEntries(envOf(render().objects).map((e) => [e.name, e]));
  assert.is(env.PATRONI_RESTAPI_USERNAME.value, 'patroni');
  assert.equal(env.PATRONI_RESTAPI_PASSWORD.valueFrom.secretKeyRef, { name: 'db-pgfleet-auth', key: 'patroni-api-password' });
});
secrets('auth.existingSecret lacking a key the pods read is refused at install/upgrade, naming the keys (lookup)', async () => {
  const secret = (keys: string[]) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'mine' }, data: Object.fromEntries(keys.map((k) => [k, 'eA=='])) });
  const base = ['superuser-password', 'replication-password', 'rewind-password', 'admin-password', 'app-password', 'pooler-password'];
  const old = await startFakeApiServer([secret([...base, 'monitor-password'])]);
  const full = await startFakeApiServer([secret([...base, 'monitor-password', 'patroni-api-password'])]);
  const noMonitor = await startFakeApiServer([secret([...base, 'patroni-api-password'])]);
  try {
    await renderAsync({ set: { 'auth.existingSecret': 'mine' }, apiServer: old.url }).then(
      () => assert.unreachable('accepted'),
      (e) => assert.match((e as Error).message, 'auth.existingSecret: Secret "mine" has no patroni-api-password'),
    );
    await renderAsync({ set: { 'auth.existingSecret': 'mine' }, apiServer: noMonitor.url }).then(
      () => assert.unreachable('accepted'),
      (e) => assert.match((e as Error).message, 'has no monitor-password'),
    );
    await renderAsync({ set: { 'auth.existingSecret': 'mine', 'monitoring.enabled': false }, apiServer: noMonitor.url });
    await renderAsync({ set: { 'auth.existingSecret': 'mine' }, apiServer: full.url });
  } finally {
    await Promise.all([old.close(), full.close(), noMonitor.close()]);
  }
});
secrets('auth.existingSecret: no Secret rendered, every password read from it', () => {
  const { objects } = render({ set: { 'auth.existingSecret': 'mine' } });
  assert.is(find(objects, 'Secret').filter((s) => s.metadata.name.endsWith('-auth')).length, 0);
  const refs = envOf(objects)
    .filter((e) => e.valueFrom?.secretKeyRef)
    .map((e) => e.valueFrom.secretKeyRef.name);
  assert.ok(refs.length >= 7);
  assert.ok(refs.every((n) => n === 'mine'));
});
secrets('no password ever appears in a ConfigMap', () => {
  const { objects } = render();
  const passwords = Object.values<string>(one(objects, 'Secret', 'db-pgfleet-auth').data).map((v) => Buffer.from(v, 'base64').toString());
  for (const cm of find(objects, 'ConfigMap'))
    for (const p of passwords) assert.not.ok(JSON.stringify(cm.data).includes(p), `${cm.metadata.name} leaks a password`);
});
secrets.run();

const tls = suite('TLS');
tls('helm provider: CA-signed certificate for every shard Service, mounted 0640', () => {
  const { objects } = render({ set: { shards: 2 } });
  const s = one(objects, 'Secret', 'db-pgfleet-tls');
  assert.is(s.type, 'kubernetes.io/tls');
  assert.ok(s.data['tls.crt'] && s.data['tls.key'] && s.data['ca.crt']);
  const cert = new X509Certificate(Buffer.from(s.data['tls.crt'], 'base64'));
  for (const name of ['db-pgfleet-shard-0-primary', 'db-pgfleet-shard-1-replicas.default.svc'])
    assert.ok((cert.subjectAltName ?? '').includes(name), `${name} missing from SAN`);
  const vol = one(objects, 'StatefulSet', S).spec.template.spec.volumes.find((v: any) => v.name === 'tls');
  assert.is(vol.secret.defaultMode, 0o640);
});
tls('renewals are reloaded: a tls-reload sidecar in every database and PgBouncer pod, without probes, watching the mounted certificates', () => {
  const sidecar = (spec: any) => spec.template.spec.containers.find((c: any) => c.name === 'tls-reload');
  const env = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
  const objects = render({ set: { 'tls.reloadIntervalSeconds': 45 } }).objects;
  const db = sidecar(one(objects, 'StatefulSet', S).spec);
  assert.equal(db.command.slice(0, 2), ['/bin/sh', '/opt/pgfleet/scripts/tls-reload.sh']);
  assert.ok(db.command.includes('SELECT pg_reload_conf()'));
  assert.equal(env(db).TLS_RELOAD_DIRS, '/etc/pgfleet/tls');
  assert.equal(env(db).TLS_RELOAD_INTERVAL, '45');
  assert.equal(env(db).PGPASSWORD.secretKeyRef, { name: 'db-pgfleet-auth', key: 'superuser-password' });
  for (const c of [db]) assert.ok(!c.readinessProbe && !c.livenessProbe && !c.startupProbe, 'a sidecar probe could take the primary out of its Service');
  for (const pool of ['rw', 'ro']) {
    const pb = sidecar(one(objects, 'Deployment', `${S}-pgbouncer-${pool}`).spec);
    assert.equal(env(pb).TLS_RELOAD_DIRS, '/etc/pgfleet/tls /etc/pgbouncer/client-tls');
    assert.ok(pb.command.at(-1).endsWith('-c RELOAD'));
    assert.ok(!pb.readinessProbe && !pb.livenessProbe);
    assert.equal(pb.volumeMounts.map((m: any) => m.mountPath).sort(), [
      '/etc/pgbouncer/client-tls',
      '/etc/pgbouncer/config',
      '/etc/pgbouncer/secrets',
      '/etc/pgfleet/tls',
    ]);
  }
  const off = render({ set: { 'tls.enabled': false } }).objects;
  assert.is(sidecar(one(off, 'StatefulSet', S).spec), undefined);
  assert.is(sidecar(one(off, 'Deployment', `${S}-pgbouncer-rw`).spec), undefined);
});
tls('cert-manager provider: a Certificate, no Secret', () => {
  const { objects } = render({
    set: { 'tls.provider': 'cert-manager', 'tls.certManager.issuerRef.name': 'ca', 'tls.certManager.issuerRef.kind': 'ClusterIssuer' },
  });
  const c = one(objects, 'Certificate', 'db-pgfleet-tls');
  assert.equal(c.spec.issuerRef, { name: 'ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  assert.ok(c.spec.dnsNames.includes('db-pgfleet-shard-0-primary'));
  assert.is(find(objects, 'Secret', 'db-pgfleet-tls').length, 0);
});
tls('existingSecret provider: mounts the named Secret', () => {
  const { objects } = render({ set: { 'tls.provider': 'existingSecret', 'tls.existingSecret': 'my-tls' } });
  assert.is(find(objects, 'Secret', 'db-pgfleet-tls').length, 0);
  assert.is(one(objects, 'StatefulSet', S).spec.template.spec.volumes.find((v: any) => v.name === 'tls').secret.secretName, 'my-tls');
});
tls('helm provider: an upgrade keeps the certificate while its names stay, and re-issues it from the kept CA when shards are added', async () => {
  const installed = render({ set: { shards: 2 } }).objects;
  const caSecret = one(installed, 'Secret', 'db-pgfleet-tls-ca');
  assert.is(caSecret.metadata.annotations['helm.sh/resource-policy'], 'keep');
  const ca = new X509Certificate(pem(caSecret, 'ca.crt'));
  const api = await startFakeApiServer(installed.filter((o) => o.kind === 'Secret' || o.kind === 'ConfigMap'));
  try {
    const same = one((await renderAsync({ set: { shards: 2 }, apiServer: api.url })).objects, 'Secret', 'db-pgfleet-tls');
    assert.equal(same.data, one(installed, 'Secret', 'db-pgfleet-tls').data, 'names unchanged: certificate kept as it is');
    const grown = (await renderAsync({ set: { shards: 3 }, apiServer: api.url })).objects;
    const s = one(grown, 'Secret', 'db-pgfleet-tls');
    const cert = new X509Certificate(pem(s, 'tls.crt'));
    for (const host of ['db-pgfleet-shard-2-pgbouncer-rw', 'db-pgfleet-shard-2-primary.default.svc.cluster.local', 'db-pgfleet-shard-0-primary'])
      assert.ok(cert.checkHost(host), `${host} missing from the re-issued certificate`);
    assert.ok(cert.verify(ca.publicKey), 'signed by the CA the release already had');
    assert.is(s.data['ca.crt'], one(installed, 'Secret', 'db-pgfleet-tls').data['ca.crt'], 'clients keep the CA they trust');
    assert.equal(one(grown, 'Secret', 'db-pgfleet-tls-ca').data, caSecret.data, 'CA kept');
  } finally {
    await api.close();
  }
});
tls('helm provider: a reinstall under the same name issues a new certificate from the kept CA', async () => {
  const installed = render().objects;
  const api = await startFakeApiServer([one(installed, 'Secret', 'db-pgfleet-tls-ca')]);
  try {
    const s = one((await renderAsync({ apiServer: api.url })).objects, 'Secret', 'db-pgfleet-tls');
    assert.ok(new X509Certificate(pem(s, 'tls.crt')).verify(new X509Certificate(pem(one(installed, 'Secret', 'db-pgfleet-tls-ca'), 'ca.crt')).publicKey));
  } finally {
    await api.close();
  }
});
tls(
  'helm provider: a certificate from chart <= 0.8.1 (no CA Secret) is kept while its names stay; when shards grow, a new CA signs it and ca.crt carries both CAs',
  async () => {
    const old = render({ set: { shards: 2 } }).objects;
    const made = one(old, 'Secret', 'db-pgfleet-tls');
    const legacy: K8sObject = { ...made, metadata: { name: made.metadata.name, labels: made.metadata.labels } };
    const api = await startFakeApiServer([legacy, one(old, 'ConfigMap', 'db-pgfleet-release-state'), one(old, 'Service', 'db-pgfleet-shard-0-pgbouncer-rw')]);
    try {
      const kept = (await renderAsync({ set: { shards: 2 }, apiServer: api.url })).objects;
      assert.equal(one(kept, 'Secret', 'db-pgfleet-tls').data, legacy.data);
      assert.is(find(kept, 'Secret', 'db-pgfleet-tls-ca').length, 0, 'no CA Secret without the key that signed the certificate');
      const grown = (await renderAsync({ set: { shards: 3 }, apiServer: api.url })).objects;
      const s = one(grown, 'Secret', 'db-pgfleet-tls');
      const cert = new X509Certificate(pem(s, 'tls.crt'));
      assert.ok(cert.checkHost('db-pgfleet-shard-2-pgbouncer-ro'));
      const bundle = pem(s, 'ca.crt').toString();
      const cas = bundle
        .split(/(?<=-----END CERTIFICATE-----\n)/)
        .filter((b) => b.trim())
        .map((b) => new X509Certificate(b));
      assert.is(cas.length, 2, 'new CA and old CA');
      assert.ok(cert.verify(cas[0]!.publicKey), 'signed by the new CA');
      assert.is(cas[1]!.fingerprint256, new X509Certificate(pem(legacy, 'ca.crt')).fingerprint256, 'the old CA still trusted');
      assert.ok(
        new X509Certificate(pem(one(grown, 'Secret', 'db-pgfleet-tls-ca'), 'ca.crt')).fingerprint256 === cas[0]!.fingerprint256,
        'the new CA is kept for the next re-issue',
      );
    } finally {
      await api.close();
    }
  },
);
tls.run();

const rbac = suite('RBAC');
rbac('Patroni Role: only ConfigMaps, Endpoints and its own pods; never Secrets, never delete', () => {
  const { objects } = render();
  const role = one(objects, 'Role', 'db-pgfleet-patroni');
  const resources = role.rules.flatMap((r: any) => r.resources).sort();
  assert.equal(resources, ['configmaps', 'endpoints', 'pods']);
  for (const r of role.rules)
    assert.not.ok(
      r.verbs.some((v: string) => v === '*' || v.startsWith('delete')),
      JSON.stringify(r),
    );
  const binding = one(objects, 'RoleBinding', 'db-pgfleet-patroni');
  assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: 'db-pgfleet-patroni', namespace: 'default' }]);
});
rbac('uninstall cleanup: post-delete hook deletes only Patroni DCS ConfigMaps of this release', () => {
  const { objects } = render();
  const job = one(objects, 'Job', 'db-pgfleet-cleanup');
  assert.is(job.metadata.annotations['helm.sh/hook'], 'post-delete');
  const args: string[] = job.spec.template.spec.containers[0].args;
  assert.equal(args.slice(0, 2), ['delete', 'configmap']);
  assert.ok(args.includes('app.kubernetes.io/instance=db,app.kubernetes.io/component=database,cluster-name'));
  assert.ok(job.spec.template.spec.initContainers[0].args.includes('--for=delete'));
  for (const kind of ['ServiceAccount', 'Role', 'RoleBinding'])
    assert.is(one(objects, kind, 'db-pgfleet-cleanup').metadata.annotations['helm.sh/hook'], 'post-delete');
  assert.is(find(render({ set: { 'patroni.cleanupOnUninstall': false } }).objects, 'Job', 'db-pgfleet-cleanup').length, 0);
});
rbac.run();

const net = suite('NetworkPolicy');
const policy = (set = {}) => one(render({ set }).objects, 'NetworkPolicy', S);
net("8008 only between members of the same shard, and from that shard's dcs-sync hook", () => {
  const rules = policy().spec.ingress.filter((r: any) => r.ports.some((p: any) => p.port === 8008));
  const from = (component: string) => [
    {
      podSelector: {
        matchLabels: {
          'app.kubernetes.io/name': 'pgfleet',
          'app.kubernetes.io/instance': 'db',
          'app.kubernetes.io/component': component,
          'pgfleet.io/shard': '0',
        },
      },
    },
  ];
  assert.equal(
    rules.map((r: any) => r.from),
    [from('database'), from('dcs-sync')],
  );
});
net('5432 from labelled clients and networkPolicy.allowedClients', () => {
  const p = policy({ 'networkPolicy.allowedClients[0].namespaceSelector.matchLabels.team': 'payments' });
  const from = p.spec.ingress.filter((r: any) => r.ports.length === 1 && r.ports[0].port === 5432).flatMap((r: any) => r.from);
  assert.ok(from.some((f: any) => f.podSelector?.matchLabels?.['db-pgfleet-client'] === 'true'));
  assert.ok(from.some((f: any) => f.namespaceSelector?.matchLabels?.team === 'payments'));
});
net('egress: DNS, the shard, the API server CIDRs and ports from values; by default any address of either family', () => {
  const apiRule = (p: any) => p.spec.egress.find((r: any) => r.to?.some((t: any) => t.ipBlock));
  assert.equal(
    apiRule(policy()).to,
    [{ ipBlock: { cidr: '0.0.0.0/0' } }, { ipBlock: { cidr: '::/0' } }],
    'IPv6 and dual-stack clusters reach the API server too',
  );
  const p = policy({ 'networkPolicy.kubeAPIServerCIDRs': '{172.18.0.3/32,fd00:10::3/128}', 'networkPolicy.kubeAPIServerPorts': '{6443}' });
  const api = apiRule(p);
  assert.equal(api.to, [{ ipBlock: { cidr: '172.18.0.3/32' } }, { ipBlock: { cidr: 'fd00:10::3/128' } }]);
  assert.equal(
    api.ports.map((x: any) => x.port),
    [6443],
  );
  assert.ok(p.spec.egress.some((r: any) => r.ports.some((x: any) => x.port === 53 && x.protocol === 'UDP')));
});
net('egress with etcd3: the etcd ports, and still the API server, where the role-label callback writes', () => {
  const p = policy({
    'patroni.dcs.type': 'etcd3',
    'patroni.dcs.etcd3.hosts': '{etcd-0.etcd:2379,etcd-1.etcd:2380}',
    'networkPolicy.kubeAPIServerPorts': '{6443}',
  });
  const api = p.spec.egress.find((r: any) => r.to?.some((t: any) => t.ipBlock));
  assert.ok(api, 'no egress rule to the API server: the callback could never label the pod, and -primary would stay empty');
  assert.equal(
    api.ports.map((x: any) => x.port),
    [6443],
  );
  const etcd = p.spec.egress.find((r: any) => !r.to && r.ports.some((x: any) => x.port === 2379));
  assert.equal(
    etcd.ports.map((x: any) => x.port),
    [2379, 2380],
  );
});
net('networkPolicy.enabled=false renders none', () => {
  assert.is(find(render({ set: { 'networkPolicy.enabled': false } }).objects, 'NetworkPolicy').length, 0);
});
net.run();

const sched = suite('scheduling');
const podSpec = (set = {}) => one(render({ set }).objects, 'StatefulSet', S).spec.template.spec;
sched('soft anti-affinity by default, hard on request, none removes it', () => {
  assert.ok(podSpec().affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution);
  assert.ok(podSpec({ 'scheduling.podAntiAffinity': 'hard' }).affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution);
  assert.is(podSpec({ 'scheduling.podAntiAffinity': 'none' }).affinity, undefined);
});
sched('zone spread, storage class, size and retention follow values', () => {
  assert.is(podSpec().topologySpreadConstraints[0].topologyKey, 'topology.kubernetes.io/zone');
  const sts = one(render({ set: { 'storage.size': '50Gi', 'storage.storageClass': 'ssd', 'storage.retainOnDelete': false } }).objects, 'StatefulSet', S);
  assert.is(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, '50Gi');
  assert.is(sts.spec.volumeClaimTemplates[0].spec.storageClassName, 'ssd');
  assert.is(sts.spec.persistentVolumeClaimRetentionPolicy.whenDeleted, 'Delete');
});
sched('user labels reach pods but never selectors', () => {
  const sts = one(render({ set: { 'commonLabels.team': 'data', 'podLabels.cost': 'x' } }).objects, 'StatefulSet', S);
  assert.is(sts.spec.template.metadata.labels.team, 'data');
  assert.is(sts.spec.template.metadata.labels.cost, 'x');
  assert.is(sts.spec.selector.matchLabels.team, undefined);
  assert.is(sts.metadata.labels.team, 'data');
});
sched.run();

const literal = suite('names from values are grammar-checked, never spliced into YAML');
/** Leaves that were written raw into manifests before chart 0.8.8 (an indented newline added keys to the pod spec). */
const LEAVES = [
  'image.registry',
  'image.repository',
  'image.tag',
  'kubectlImage.tag',
  'pooler.pgbouncer.image.repository',
  'monitoring.exporter.image.registry',
  'storage.storageClass',
  'backups.verify.scratch.storageClass',
  'scheduling.priorityClassName',
  'pooler.priorityClassName',
  'scheduling.topologyKey',
];
const PAYLOADS = ['x\n          hostPID: true', 'x"y', "x'y", 'x$(id)', 'x`id`', 'x #y', 'x\nhost all all 0.0.0.0/0 trust'];
const withLeaf = (path: string, value: string) => {
  const over: Record<string, unknown> = {};
  let at = over;
  const keys = path.split('.');
  for (const k of keys.slice(0, -1)) at = (at[k] = {}) as Record<string, unknown>;
  at[keys.at(-1)!] = value;
  return over;
};
literal('every hostile payload in each of these leaves is refused by the schema, naming the leaf', () => {
  for (const leaf of LEAVES) {
    for (const payload of PAYLOADS) {
      assert.not.ok(validateValues(deepMerge(defaults(model), withLeaf(leaf, payload))), `${leaf} accepted ${JSON.stringify(payload)}`);
      assert.ok(
        ajvErrors().some((e) => e.startsWith(`${leaf}:`)),
        `${leaf}: ${ajvErrors().join('; ')}`,
      );
    }
  }
});
literal('helm refuses them too, naming the leaf; valid names still render (quoted)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-literal-'));
  try {
    for (const leaf of LEAVES) {
      const file = join(dir, 'v.json');
      writeFileSync(file, JSON.stringify(withLeaf(leaf, PAYLOADS[0]!)));
      await renderAsync({ values: [file] }).then(
        () => assert.unreachable(`${leaf} accepted`),
        (e) => assert.match((e as Error).message, `/${leaf.replaceAll('.', '/')}'`),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ok = render({
    set: {
      'storage.storageClass': 'fast.ssd-1',
      'scheduling.priorityClassName': 'db-critical',
      'scheduling.topologyKey': 'topology.kubernetes.io/zone',
      'image.registry': 'registry.example.com:5000',
      'image.repository': 'team/pg__x-y.z',
      'image.tag': '17.6_b-1',
    },
  }).objects;
  const sts = one(ok, 'StatefulSet', S);
  assert.is(sts.spec.volumeClaimTemplates[0].spec.storageClassName, 'fast.ssd-1');
  assert.is(sts.spec.template.spec.priorityClassName, 'db-critical');
  assert.is(sts.spec.template.spec.containers[0].image, 'registry.example.com:5000/team/pg__x-y.z:17.6_b-1');
});
literal.run();

const roles = suite('role names');
const ROLE_KEYS = [
  'auth.superuser',
  'auth.replicationUser',
  'auth.rewindUser',
  'auth.adminUser',
  'auth.appUser',
  'auth.poolerUser',
  'auth.monitorUser',
  'pooler.adminUser',
  'pooler.statsUser',
];
roles("every reserved word (RESERVED_ROLES, the template's list) and a pg_ name are refused, in each role key, naming it", async () => {
  const cases = [...RESERVED_ROLES.map((name, i) => [ROLE_KEYS[i % ROLE_KEYS.length]!, name]), ...ROLE_KEYS.map((key) => [key, 'pg_x'])];
  await Promise.all(
    cases.map(([key, name]) =>
      renderAsync({ set: { [key!]: name! } }).then(
        () => assert.unreachable(`${key}=${name} accepted`),
        (e) => assert.match((e as Error).message, `${key}: "${name}" is`),
      ),
    ),
  );
});
roles('names next to the reserved ones still render', () => {
  const { objects } = render({ set: { 'auth.appUser': 'alls', 'auth.adminUser': 'pgx', 'auth.replicationUser': 'replication_user' } });
  assert.ok(objects.length > 0);
});
roles.run();
