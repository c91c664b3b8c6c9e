// Pooler rendering: PgBouncer rw/ro per shard, PgDog router, none; configs parsed key by key.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseIni } from 'ini';
import { X509Certificate } from 'node:crypto';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { find, helm, one, render, type K8sObject } from '../../scripts/lib/helm.ts';
import { chartDir } from '../../scripts/lib/tools.ts';
import { SWITCHOVER_SCRIPT } from '../../scripts/lib/contract.ts';
import { notesOf } from '../lib/notes.ts';

const R = 'db';
const shard = (i: number) => `${R}-pgfleet-shard-${i}`;
const plain = <T>(x: T): T => JSON.parse(JSON.stringify(x)); // ini and smol-toml return null-prototype objects
const ini = (cm: K8sObject) => plain(parseIni(cm.data['pgbouncer.ini']));
const deployments = (objects: K8sObject[], component: string) =>
  find(objects, 'Deployment').filter((d) => d.metadata.labels?.['app.kubernetes.io/component'] === component);
const podSpec = (d: K8sObject) => d.spec.template.spec;
const volume = (d: K8sObject, name: string) => podSpec(d).volumes.find((v: any) => v.name === name);

async function validateModels(objects: K8sObject[]) {
  for (const o of objects) {
    const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
    const path = group ? `kubernetes-models/${group}/${version}/${o.kind}` : `kubernetes-models/${version}/${o.kind}`;
    const mod = await import(path);
    const Model = mod[o.kind] ?? mod.default;
    new Model(o).validate();
  }
}

// ---------------------------------------------------------------------------------------------------------
const pgbouncer = suite('pooler: PgBouncer rw + ro per shard (shards=3, replicas=1)');
const pb = render({ set: { shards: 3, replicas: 1 } }).objects;

pgbouncer('renders 6 Deployments named <shard>-pgbouncer-rw|ro with the discovery labels', () => {
  const deps = deployments(pb, 'pgbouncer');
  assert.is(deps.length, 6);
  for (let i = 0; i < 3; i++) {
    for (const pool of ['rw', 'ro']) {
      const d = one(pb, 'Deployment', `${shard(i)}-pgbouncer-${pool}`);
      const labels = d.spec.template.metadata.labels;
      assert.is(labels['app.kubernetes.io/component'], 'pgbouncer');
      assert.is(labels['pgfleet.io/shard'], String(i));
      assert.is(labels['pgfleet.io/pool'], pool);
      assert.is(labels[`${R}-pgfleet-client`], 'true', 'pooler pods are allowed database clients');
      assert.equal(d.spec.selector.matchLabels['pgfleet.io/pool'], pool);
      assert.is(d.spec.replicas, 2);
      const c = podSpec(d).containers[0];
      assert.equal(c.ports, [{ name: 'pgbouncer', containerPort: 6432 }]);
      assert.is(volume(d, 'config').configMap.name, `${shard(i)}-pgbouncer-${pool}`, 'each Deployment mounts its own ConfigMap');
      assert.equal(c.command, ['pgbouncer', '/etc/pgbouncer/config/pgbouncer.ini']);
    }
  }
});

pgbouncer('each pgbouncer.ini points at the right Service, key by key', () => {
  for (let i = 0; i < 3; i++) {
    for (const pool of ['rw', 'ro']) {
      const conf = ini(one(pb, 'ConfigMap', `${shard(i)}-pgbouncer-${pool}`));
      const host = `${shard(i)}-${pool === 'rw' ? 'primary' : 'replicas'}`;
      assert.equal(conf.databases, {
        app: `host=${host} port=5432 dbname=app`,
        postgres: `host=${host} port=5432 dbname=postgres`,
      });
      const p = conf.pgbouncer;
      const expected: Record<string, string> = {
        listen_addr: '*',
        listen_port: '6432',
        unix_socket_dir: '',
        auth_type: 'scram-sha-256',
        auth_file: '/etc/pgbouncer/auth/userlist.txt',
        auth_user: 'pgfleet_pooler',
        auth_query: 'SELECT uname, phash FROM pgfleet.user_lookup($1)',
        admin_users: 'pgfleet_pooler_admin',
        stats_users: 'pgfleet_pooler_stats',
        pool_mode: 'transaction',
        max_client_conn: '1000',
        default_pool_size: '20',
        min_pool_size: '0',
        reserve_pool_size: '5',
        reserve_pool_timeout: '3',
        max_db_connections: '0',
        server_lifetime: '600',
        server_idle_timeout: '300',
        server_login_retry: '0.25',
        server_connect_timeout: '5',
        server_reset_query: 'DISCARD ALL',
        query_wait_timeout: '120',
        client_idle_timeout: '0',
        ignore_startup_parameters: 'extra_float_digits',
        server_tls_sslmode: 'verify-full',
        server_tls_ca_file: '/etc/pgfleet/tls/ca.crt',
        server_tls_protocols: 'secure',
        client_tls_sslmode: 'require',
        client_tls_cert_file: '/etc/pgbouncer/client-tls/tls.crt',
        client_tls_key_file: '/etc/pgbouncer/client-tls/tls.key',
        client_tls_protocols: 'secure',
      };
      for (const [k, v] of Object.entries(expected)) assert.is(String(p[k]), v, `${pool} shard ${i}: ${k}`);
      assert.not.ok('max_prepared_statements' in p, 'omitted by default: PgBouncer 1.18 would refuse it');
      assert.not.ok('user' in (conf.databases as any), 'no forced user: SCRAM pass-through needs none');
    }
  }
});

pgbouncer('no password or userlist in any ConfigMap; secrets come from Secret-mounted files', () => {
  for (const cm of find(pb, 'ConfigMap').filter((c) => c.metadata.name.includes('pgbouncer'))) {
    assert.not.match(cm.data['pgbouncer.ini'], /^[^;\n]*password/im, 'no password outside comments');
    assert.not.ok('userlist.txt' in cm.data);
  }
  const d = one(pb, 'Deployment', `${shard(0)}-pgbouncer-rw`);
  const sources = volume(d, 'secrets').projected.sources.map((s: any) => [s.secret.name, s.secret.items.map((x: any) => x.key)]);
  assert.equal(sources, [
    [`${R}-pgfleet-auth`, ['pooler-password']],
    [`${R}-pgfleet-pooler`, ['pooler-admin-password', 'pooler-stats-password']],
  ]);
  assert.is(volume(d, 'auth').emptyDir.medium, 'Memory');
  assert.equal(podSpec(d).initContainers[0].command, ['/bin/sh', '/etc/pgbouncer/config/make-userlist.sh']);
  const secret = one(pb, 'Secret', `${R}-pgfleet-pooler`);
  assert.equal(Object.keys(secret.data).sort(), ['pooler-admin-password', 'pooler-stats-password']);
  // With auth.existingSecret every credential comes from the user's Secret: nothing is generated.
  const mine = render({ set: { 'auth.existingSecret': 'mine' } }).objects;
  assert.equal(
    find(mine, 'Secret')
      .map((x) => x.metadata.name)
      .filter((n) => n.includes('pooler')),
    [],
  );
  const srcs = volume(one(mine, 'Deployment', `${shard(0)}-pgbouncer-rw`), 'secrets').projected.sources.map((x: any) => x.secret.name);
  assert.equal(srcs, ['mine', 'mine']);
  const own = render({ set: { 'auth.existingSecret': 'mine', 'pooler.existingSecret': 'pool' } }).objects;
  assert.equal(
    volume(one(own, 'Deployment', `${shard(0)}-pgbouncer-ro`), 'secrets').projected.sources.map((x: any) => x.secret.name),
    ['mine', 'pool'],
  );
});

pgbouncer('pods are restricted: non-root, read-only root fs, no privilege escalation, probes and resources set', () => {
  for (const d of deployments(pb, 'pgbouncer')) {
    const spec = podSpec(d);
    assert.is(spec.securityContext.runAsNonRoot, true);
    assert.is(spec.securityContext.runAsUser, 998);
    assert.is(spec.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.is(spec.automountServiceAccountToken, false);
    for (const c of [...spec.initContainers, ...spec.containers]) {
      assert.is(c.securityContext.readOnlyRootFilesystem, true, c.name);
      assert.is(c.securityContext.allowPrivilegeEscalation, false, c.name);
      assert.equal(c.securityContext.capabilities.drop, ['ALL']);
      assert.ok(c.resources?.limits?.memory, `${c.name} has a memory limit`);
    }
    const main = spec.containers[0];
    assert.is(main.readinessProbe.tcpSocket.port, 'pgbouncer');
    assert.is(main.livenessProbe.tcpSocket.port, 'pgbouncer');
    const term = spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
    assert.equal(term.labelSelector.matchLabels, d.spec.selector.matchLabels, "soft anti-affinity among the pool's own pods");
  }
});

pgbouncer('Services, PDBs and the per-shard headless Service select the right pods', () => {
  for (let i = 0; i < 3; i++) {
    for (const pool of ['rw', 'ro']) {
      const name = `${shard(i)}-pgbouncer-${pool}`;
      const d = one(pb, 'Deployment', name);
      const svc = one(pb, 'Service', name);
      assert.equal(svc.spec.selector, d.spec.selector.matchLabels);
      assert.equal(svc.spec.ports, [{ name: 'pgbouncer', port: 6432, targetPort: 'pgbouncer' }]);
      const pdb = one(pb, 'PodDisruptionBudget', name);
      assert.equal(pdb.spec.selector.matchLabels, d.spec.selector.matchLabels);
      assert.is(pdb.spec.maxUnavailable, 1);
    }
    const headless = one(pb, 'Service', `${shard(i)}-pgbouncer-headless`);
    assert.is(headless.spec.clusterIP, 'None');
    assert.equal(headless.spec.selector, {
      'app.kubernetes.io/name': 'pgfleet',
      'app.kubernetes.io/instance': R,
      'app.kubernetes.io/component': 'pgbouncer',
      'pgfleet.io/shard': String(i),
    });
  }
});

pgbouncer('NetworkPolicies: apps and database pods reach 6432; PgBouncer reaches only its shard on 5432', () => {
  for (let i = 0; i < 3; i++) {
    const np = one(pb, 'NetworkPolicy', `${shard(i)}-pgbouncer`);
    assert.is(np.spec.podSelector.matchLabels['pgfleet.io/shard'], String(i));
    const from = np.spec.ingress[0].from.map((f: any) => f.podSelector.matchLabels);
    assert.equal(from[0], { [`${R}-pgfleet-client`]: 'true' });
    assert.is(from[1]['app.kubernetes.io/component'], 'database');
    assert.is(from[1]['pgfleet.io/shard'], String(i));
    const to = np.spec.egress.find((e: any) => e.ports[0].port === 5432).to[0].podSelector.matchLabels;
    assert.equal([to['app.kubernetes.io/component'], to['pgfleet.io/shard']], ['database', String(i)]);
    const db = one(pb, 'NetworkPolicy', shard(i));
    const ingress = db.spec.ingress.find((r: any) => r.from?.[0]?.podSelector?.matchLabels?.['app.kubernetes.io/component'] === 'pgbouncer');
    assert.ok(ingress, 'database accepts its PgBouncers');
    assert.is(ingress.from[0].podSelector.matchLabels['pgfleet.io/shard'], String(i));
    const egress = db.spec.egress.find((r: any) => r.ports[0].port === 6432);
    assert.is(egress.to[0].podSelector.matchLabels['pgfleet.io/shard'], String(i), 'callback reaches its own PgBouncers');
  }
});

pgbouncer('failover: every shard runs on-role-change.sh, pointed at its own PgBouncers', () => {
  const scripts = one(pb, 'ConfigMap', `${R}-pgfleet-scripts`).data['on-role-change.sh'] as string;
  assert.match(scripts, /^#!\/bin\/sh/);
  assert.match(scripts, /getent ahosts/);
  assert.match(scripts, /admin "\$addr" RECONNECT/);
  assert.match(scripts, /primary\|master\) round repeat RESUME/);
  for (let i = 0; i < 3; i++) {
    const patroni = parseYaml(one(pb, 'ConfigMap', `${shard(i)}-patroni`).data['patroni.yml']);
    assert.is(patroni.postgresql.callbacks.on_role_change, '/opt/pgfleet/scripts/on-role-change.sh');
    const env = one(pb, 'StatefulSet', shard(i)).spec.template.spec.containers[0].env;
    const byName = Object.fromEntries(env.map((e: any) => [e.name, e]));
    assert.is(byName.PGFLEET_POOLER_HOSTS.value, `${shard(i)}-pgbouncer-headless`);
    assert.is(byName.PGFLEET_POOLER_ADMIN_DB.value, 'pgbouncer');
    assert.is(byName.PGFLEET_POOLER_ADMIN_USER.value, 'pgfleet_pooler_admin');
    assert.equal(byName.PGFLEET_POOLER_ADMIN_PASSWORD.valueFrom.secretKeyRef, { name: `${R}-pgfleet-pooler`, key: 'pooler-admin-password' });
  }
});

pgbouncer('switchover: the script is mounted where the kube backend execs it; the primary hands over in its preStop hook', () => {
  const script = one(pb, 'ConfigMap', `${R}-pgfleet-scripts`).data.switchover as string;
  assert.match(script, /^#!\/usr\/bin\/env python3/);
  assert.match(script, /'PAUSE'/);
  for (let i = 0; i < 3; i++) {
    const spec = one(pb, 'StatefulSet', shard(i)).spec.template.spec;
    const pg = spec.containers[0];
    const vol = spec.volumes.find((v: any) => v.configMap?.name === `${R}-pgfleet-scripts`);
    const mount = pg.volumeMounts.find((m: any) => m.name === vol.name);
    assert.is(`${mount.mountPath}/switchover`, SWITCHOVER_SCRIPT);
    assert.ok(vol.configMap.defaultMode & 0o111, 'executable');
    // 60 s grace: the handover may take 45 s, Patroni keeps 15 s to stop PostgreSQL.
    assert.equal(pg.lifecycle.preStop.exec.command, [SWITCHOVER_SCRIPT, '--if-leader', '--timeout', '45']);
  }
  const short = render({ set: { 'scheduling.terminationGracePeriodSeconds': 10 } }).objects;
  assert.equal(one(short, 'StatefulSet', shard(0)).spec.template.spec.containers[0].lifecycle.preStop.exec.command.slice(-1), ['5']);
});

pgbouncer('every rendered object validates against kubernetes-models', async () => {
  await validateModels(pb);
});

pgbouncer('helm test goes through both pools of every shard, verifying the release certificate in full', () => {
  const env = (objects: K8sObject[], i: number) =>
    Object.fromEntries(
      one(objects, 'Pod', `${R}-pgfleet-test-shard-${i}`)
        .spec.containers[0].env.filter((e: any) => 'value' in e)
        .map((e: any) => [e.name, e.value]),
    );
  for (let i = 0; i < 3; i++) {
    const e = env(pb, i);
    for (const pool of ['rw', 'ro']) {
      const svc = one(pb, 'Service', e[`POOLER_${pool.toUpperCase()}`]);
      assert.is(svc.metadata.name, `${shard(i)}-pgbouncer-${pool}`);
      assert.equal(
        svc.spec.ports.map((p: any) => p.port),
        [6432],
        'the port the test dials',
      );
    }
    assert.is(e.POOLER_SSLMODE, 'verify-full');
    assert.is(e.PGSSLMODE, 'verify-full');
    assert.is(e.POOLER_RO_STANDBY, 'true', 'with replicas the ro pool must reach a standby');
  }
  assert.is(env(render({ set: { replicas: 0 } }).objects, 0).POOLER_RO_STANDBY, 'false', 'without replicas the ro pool serves from the primary');
  assert.is(env(render({ set: { 'pooler.pgbouncer.clientTLS.sslmode': 'disable' } }).objects, 0).POOLER_SSLMODE, 'disable');
  assert.is(
    env(render({ set: { 'pooler.pgbouncer.clientTLS.existingSecret': 'theirs' } }).objects, 0).POOLER_SSLMODE,
    'require',
    "a certificate of the user's own is not checked against the release CA",
  );
  assert.not.ok(env(render({ set: { 'pooler.type': 'none' } }).objects, 0).POOLER_RW);
});

pgbouncer.run();

// ---------------------------------------------------------------------------------------------------------
const variants = suite('pooler: PgBouncer values reach pgbouncer.ini');

variants('replicas: 0 -> the read-only pool falls back to the primary', () => {
  const o = render({ set: { shards: 2, replicas: 0 } }).objects;
  for (let i = 0; i < 2; i++) {
    assert.match(ini(one(o, 'ConfigMap', `${shard(i)}-pgbouncer-ro`)).databases.app, `host=${shard(i)}-primary `);
  }
});

variants('tuning values, prepared statements, client TLS', () => {
  const o = render({ values: [join(chartDir, 'ci', '10-pgbouncer-values.yaml')] }).objects;
  const p = ini(one(o, 'ConfigMap', `${shard(2)}-pgbouncer-rw`)).pgbouncer;
  assert.equal(
    [p.max_client_conn, p.default_pool_size, p.reserve_pool_size, p.server_lifetime, p.ignore_startup_parameters, p.max_prepared_statements],
    ['5000', '25', '5', '900', 'extra_float_digits,options', '200'],
  );
  assert.equal(
    [p.client_tls_sslmode, p.client_tls_cert_file, p.client_tls_key_file],
    ['prefer', '/etc/pgbouncer/client-tls/tls.crt', '/etc/pgbouncer/client-tls/tls.key'],
  );
  const d = one(o, 'Deployment', `${shard(2)}-pgbouncer-rw`);
  assert.is(volume(d, 'client-tls').secret.secretName, `${R}-pgfleet-tls`);
});

variants('session mode, verify-ca, TLS off', () => {
  let p = ini(
    one(
      render({ set: { 'pooler.pgbouncer.poolMode': 'session', 'pooler.pgbouncer.serverTLSSslmode': 'verify-ca' } }).objects,
      'ConfigMap',
      `${shard(0)}-pgbouncer-rw`,
    ),
  ).pgbouncer;
  assert.equal([p.pool_mode, p.server_tls_sslmode], ['session', 'verify-ca']);
  const o = render({ set: { 'tls.enabled': false } }).objects;
  p = ini(one(o, 'ConfigMap', `${shard(0)}-pgbouncer-rw`)).pgbouncer;
  assert.is(p.server_tls_sslmode, 'disable');
  assert.not.ok('server_tls_ca_file' in p);
  assert.not.ok(volume(one(o, 'Deployment', `${shard(0)}-pgbouncer-rw`), 'server-ca'));
  assert.is(p.client_tls_sslmode, 'disable', 'clientTLS.sslmode auto follows tls.enabled');
  assert.not.ok('client_tls_cert_file' in p);
  assert.not.ok(volume(one(o, 'Deployment', `${shard(0)}-pgbouncer-rw`), 'client-tls'));
});

variants('client TLS by default: the release certificate names every PgBouncer Service, so clients verify it (verify-full)', () => {
  const o = render({ namespace: 'ns1', set: { shards: 2 } }).objects;
  const d = one(o, 'Deployment', `${shard(1)}-pgbouncer-ro`);
  assert.is(volume(d, 'client-tls').secret.secretName, `${R}-pgfleet-tls`);
  const pem = Buffer.from(one(o, 'Secret', `${R}-pgfleet-tls`).data['tls.crt'], 'base64').toString();
  const sans = new X509Certificate(pem).subjectAltName!.split(', ').map((x) => x.replace(/^DNS:/, ''));
  for (let i = 0; i < 2; i++) {
    for (const svc of ['primary', 'replicas', 'pgbouncer-rw', 'pgbouncer-ro']) {
      for (const n of [`${shard(i)}-${svc}`, `${shard(i)}-${svc}.ns1.svc`, `${shard(i)}-${svc}.ns1.svc.cluster.local`]) assert.ok(sans.includes(n), `SAN ${n}`);
    }
  }
  const none = render({ namespace: 'ns1', set: { 'pooler.type': 'none' } }).objects;
  const plain = new X509Certificate(Buffer.from(one(none, 'Secret', `${R}-pgfleet-tls`).data['tls.crt'], 'base64').toString()).subjectAltName!;
  assert.not.match(plain, /pgbouncer/, 'no names for Services that are not rendered');
});

variants('a long release name keeps every pooler name <= 63 characters and consistent', () => {
  const release = 'a-very-long-release-name-for-a-production-db-fleet-01'; // 53: helm's maximum
  const o = render({ release, set: { shards: 12 } }).objects;
  const names = o.filter((x) => x.metadata.labels?.['app.kubernetes.io/component'] === 'pgbouncer').map((x) => x.metadata.name);
  for (const n of names) assert.ok(n.length <= 63, `${n} is ${n.length} characters`);
  const env = one(o, 'StatefulSet', find(o, 'StatefulSet')[11]!.metadata.name).spec.template.spec.containers[0].env;
  const hosts = env.find((e: any) => e.name === 'PGFLEET_POOLER_HOSTS').value;
  const headless = find(o, 'Service').find((s) => s.metadata.name === hosts);
  assert.ok(headless, `callback host ${hosts} is a rendered Service`);
  assert.is(headless!.spec.selector['pgfleet.io/shard'], '11');
});

variants.run();

// ---------------------------------------------------------------------------------------------------------
const pgdog = suite('pooler: PgDog router');
const pdSet = {
  shards: 3,
  replicas: 1,
  'pooler.type': 'pgdog',
  'pooler.pgdog.shardedTables[0].table': 'orders',
  'pooler.pgdog.shardedTables[0].column': 'customer_id',
  'pooler.pgdog.shardedTables[0].dataType': 'bigint',
};
const pd = render({ set: pdSet }).objects;
const toml = (o: K8sObject[]) => plain(parseToml(one(o, 'ConfigMap', `${R}-pgfleet-pgdog`).data['pgdog.toml'])) as any;

pgdog('pgdog.toml lists 3 shards x (primary + replica) through the per-shard Services', () => {
  const t = toml(pd);
  assert.is(t.databases.length, 6);
  for (let i = 0; i < 3; i++) {
    const entries = t.databases.filter((d: any) => d.shard === i);
    assert.equal(entries, [
      { name: 'app', host: `${shard(i)}-primary`, port: 5432, role: 'primary', shard: i, database_name: 'app' },
      { name: 'app', host: `${shard(i)}-replicas`, port: 5432, role: 'replica', shard: i, database_name: 'app' },
    ]);
  }
  assert.not.ok(
    t.databases.some((d: any) => d.role === 'auto'),
    'explicit roles only',
  );
  assert.equal(t.sharded_tables, [{ database: 'app', name: 'orders', column: 'customer_id', data_type: 'bigint' }]);
});

pgdog('[general] and [admin] come from values; the admin password is a placeholder, never plaintext', () => {
  const t = toml(pd);
  assert.equal(t.general, {
    host: '0.0.0.0',
    port: 6432,
    workers: 2,
    default_pool_size: 10,
    min_pool_size: 1,
    pooler_mode: 'transaction',
    read_write_split: 'include_primary',
    read_write_strategy: 'conservative',
    load_balancing_strategy: 'round_robin',
    openmetrics_port: 9090,
    healthcheck_port: 8080,
    shutdown_timeout: 30000,
    tls_verify: 'verify_full',
    tls_server_ca_certificate: '/etc/pgfleet/tls/ca.crt',
  });
  assert.equal(t.admin, { name: 'admin', user: 'pgfleet_pooler_admin', password: '@secret:pooler-admin-password@' });
  const o = render({ set: { ...pdSet, 'pooler.pgdog.readWriteSplit': 'exclude_primary', 'pooler.pgdog.loadBalancingStrategy': 'random' } }).objects;
  assert.equal([toml(o).general.read_write_split, toml(o).general.load_balancing_strategy], ['exclude_primary', 'random']);
});

pgdog('users.toml lives in a Secret with placeholders filled from the auth Secret at pod start', () => {
  const users = plain(parseToml(one(pd, 'Secret', `${R}-pgfleet-pgdog-users`).stringData['users.toml'])) as any;
  assert.equal(users.users, [
    { name: 'app', database: 'app', password: '@secret:app-password@' },
    { name: 'admin', database: 'app', password: '@secret:admin-password@' },
  ]);
  const d = one(pd, 'Deployment', `${R}-pgfleet-pgdog`);
  const srcs = volume(d, 'secrets').projected.sources;
  assert.equal(srcs[0].secret, {
    name: `${R}-pgfleet-auth`,
    items: [
      { key: 'app-password', path: 'app-password' },
      { key: 'admin-password', path: 'admin-password' },
    ],
  });
  assert.equal(srcs[1].secret.items, [{ key: 'pooler-admin-password', path: 'pooler-admin-password' }]);
});

pgdog('Deployment: replicas, PDB, probes, metrics port, restricted, image pinned; no PgBouncer objects', () => {
  const d = one(pd, 'Deployment', `${R}-pgfleet-pgdog`);
  assert.is(d.spec.replicas, 2);
  const c = podSpec(d).containers[0];
  assert.is(c.image, 'ghcr.io/pgdogdev/pgdog:v0.1.59');
  assert.equal(c.command, ['/usr/local/bin/pgdog', '--config', '/etc/pgdog/run/pgdog.toml', '--users', '/etc/pgdog/run/users.toml']);
  assert.equal(
    c.ports.map((p: any) => p.containerPort),
    [6432, 9090, 8080],
  );
  assert.ok(c.readinessProbe && c.livenessProbe);
  assert.is(c.securityContext.readOnlyRootFilesystem, true);
  assert.is(podSpec(d).securityContext.runAsNonRoot, true);
  assert.is(one(pd, 'PodDisruptionBudget', `${R}-pgfleet-pgdog`).spec.maxUnavailable, 1);
  assert.is(one(pd, 'ConfigMap', `${R}-pgfleet-pgdog`).metadata.annotations?.['pgfleet.io/shards'], '3');
  assert.is(deployments(pd, 'pgbouncer').length, 0);
  const env = one(pd, 'StatefulSet', shard(1)).spec.template.spec.containers[0].env;
  assert.is(env.find((e: any) => e.name === 'PGFLEET_POOLER_HOSTS').value, `${R}-pgfleet-pgdog-headless`);
  assert.is(env.find((e: any) => e.name === 'PGFLEET_POOLER_ADMIN_DB').value, 'admin');
});

pgdog('shard count and sharded tables follow values (ci scenario; replicas 0 -> primaries only)', () => {
  const ci = toml(render({ values: [join(chartDir, 'ci', '11-pgdog-values.yaml')] }).objects);
  assert.is(ci.databases.length, 6);
  assert.equal(
    ci.sharded_tables.map((t: any) => [t.name, t.column, t.data_type]),
    [
      ['orders', 'customer_id', 'bigint'],
      ['sessions', 'session_id', 'uuid'],
    ],
  );
  const five = toml(render({ set: { shards: 5, replicas: 0, 'pooler.type': 'pgdog' } }).objects);
  assert.equal(
    five.databases.map((d: any) => [d.shard, d.role]),
    [0, 1, 2, 3, 4].map((i) => [i, 'primary']),
  );
  assert.not.ok('sharded_tables' in five);
});

pgdog('every rendered object validates against kubernetes-models', async () => {
  await validateModels(pd);
});

pgdog.run();

// ---------------------------------------------------------------------------------------------------------
const none = suite('pooler: none');

none('no pooler objects, no callback, no pooler env on the database pods', () => {
  const o = render({ values: [join(chartDir, 'ci', '12-no-pooler-values.yaml')] }).objects;
  const pooled = o.filter((x) => ['pgbouncer', 'pgdog', 'pooler'].includes(x.metadata.labels?.['app.kubernetes.io/component'] ?? ''));
  assert.equal(
    pooled.map((x) => `${x.kind}/${x.metadata.name}`),
    [],
  );
  const patroni = parseYaml(one(o, 'ConfigMap', `${shard(0)}-patroni`).data['patroni.yml']);
  assert.not.ok(patroni.postgresql.callbacks);
  const env = one(o, 'StatefulSet', shard(0)).spec.template.spec.containers[0].env;
  assert.not.ok(env.some((e: any) => ['PGFLEET_POOLER_HOSTS', 'PGFLEET_POOLER_ADMIN_PASSWORD'].includes(e.name)));
});

none.run();

// ---------------------------------------------------------------------------------------------------------
const notes = suite('pooler: connection endpoints in NOTES.txt (pgfleet.pooler.notes)');

notes('PgBouncer: a read-write and a read-only URL per shard', () => {
  const text = notesOf(['--set', 'shards=2']);
  for (const i of [0, 1]) {
    assert.match(text, `read-write: postgresql://app@db-pgfleet-shard-${i}-pgbouncer-rw.prod.svc:6432/app`);
    assert.match(text, `read-only:  postgresql://app@db-pgfleet-shard-${i}-pgbouncer-ro.prod.svc:6432/app`);
  }
  assert.not.match(text, 'served by the primary');
  assert.match(notesOf(['--set', 'replicas=0']), '(no replicas: served by the primary)');
});

notes("PgDog: one URL and the sharded tables; none: a reminder that failover is the user's job", () => {
  const text = notesOf(['--values', join(chartDir, 'ci', '11-pgdog-values.yaml')]);
  assert.match(text, 'postgresql://app@db-pgfleet-pgdog.prod.svc:6432/app');
  assert.match(text, 'Sharded tables: orders(customer_id), sessions(session_id)');
  assert.not.match(text, 'pgbouncer-rw');
  const none = notesOf(['--set', 'pooler.type=none']);
  assert.match(none, 'No pooler (pooler.type: none)');
  assert.not.match(none, ':6432');
});

notes.run();

// ---------------------------------------------------------------------------------------------------------
// tests/schema/bad-values.test.ts runs every fixture through helm and ajv; this only keeps the pooler's share.
const refusals = suite('pooler: bad values fixtures');
const badDir = join(import.meta.dirname, '..', 'fixtures', 'bad-values');

refusals('at least 8 pooler-*.yaml fixtures, both layers', () => {
  const files = readdirSync(badDir).filter((f) => f.startsWith('pooler-') && f.endsWith('.yaml'));
  assert.ok(files.length >= 8, `${files.length} fixtures`);
  const layers = new Set(files.map((f) => /^# layer: (\w+)$/m.exec(readFileSync(join(badDir, f), 'utf8'))?.[1]));
  assert.equal([...layers].sort(), ['schema', 'template']);
});

refusals.run();
