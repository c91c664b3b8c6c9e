// The rendered Patroni configuration follows the values.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { find, one, render } from '../../scripts/lib/helm.ts';
import { patroniConfig } from '../lib/patroni.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartEnv, dbContainer } from '../../scripts/lib/contract.ts';
import { chartDir } from '../../scripts/lib/tools.ts';
import type { SetValues } from '../../schema/values-paths.ts';

const S = 'db-pgfleet-shard-0';
const cfg = (set: SetValues = {}) => patroniConfig(render({ set }).objects, S);

const dcs = suite('patroni bootstrap.dcs');
dcs('timings and failover settings come from values', () => {
  const d = cfg({ 'patroni.ttl': 30, 'patroni.loopWait': 10, 'patroni.retryTimeout': 10, 'patroni.maximumLagOnFailover': 0 }).bootstrap.dcs;
  assert.equal([d.ttl, d.loop_wait, d.retry_timeout, d.maximum_lag_on_failover], [30, 10, 10, 0]);
});
dcs('synchronous mode maps off/on/quorum to what Patroni 3 and 4 both read', () => {
  assert.is(cfg().bootstrap.dcs.synchronous_mode, false);
  assert.is(cfg({ 'patroni.synchronousMode': 'on' }).bootstrap.dcs.synchronous_mode, true);
  const q = cfg({ replicas: 2, 'patroni.synchronousMode': 'quorum', 'patroni.synchronousNodeCount': 2, 'patroni.synchronousModeStrict': true }).bootstrap.dcs;
  assert.equal([q.synchronous_mode, q.synchronous_node_count, q.synchronous_mode_strict], ['quorum', 2, true]);
});
dcs('failsafe mode and pg_rewind are on by default and can be turned off', () => {
  assert.is(cfg().bootstrap.dcs.failsafe_mode, true);
  assert.is(cfg().bootstrap.dcs.postgresql.use_pg_rewind, true);
  assert.is(cfg({ 'patroni.failsafeMode': false }).bootstrap.dcs.failsafe_mode, false);
  assert.is(cfg({ 'patroni.usePgRewind': false }).bootstrap.dcs.postgresql.use_pg_rewind, false);
});
dcs('postgresql.parameters land in the DCS (the only place Patroni honours max_connections)', () => {
  const p = cfg({ 'postgresql.parameters.max_connections': 333, 'postgresql.parameters.work_mem': '8MB' }).bootstrap.dcs.postgresql.parameters;
  assert.is(p.max_connections, 333);
  assert.is(p.work_mem, '8MB');
  assert.is(p.password_encryption, 'scram-sha-256');
});
dcs.run();

const store = suite('DCS choice');
store('kubernetes DCS: ConfigMaps, role labels primary/replica, namespaced Role', () => {
  const { objects } = render();
  const k = patroniConfig(objects, S).kubernetes;
  assert.is(k.use_endpoints, false);
  assert.equal([k.role_label, k.leader_label_value, k.follower_label_value, k.scope_label], ['role', 'primary', 'replica', 'cluster-name']);
  assert.is(patroniConfig(objects, S).etcd3, undefined);
  assert.is(one(objects, 'StatefulSet', S).spec.template.spec.automountServiceAccountToken, true);
});
store(
  'etcd3 DCS: hosts rendered, no Kubernetes section; the Role only patches the database pods (their role label, tests/runtime/etcd3-role-label.test.ts)',
  () => {
    const { objects } = render({ set: { 'patroni.dcs.type': 'etcd3', 'patroni.dcs.etcd3.hosts': '{etcd-a:2379,etcd-b:2379}' } });
    const c = patroniConfig(objects, S);
    assert.is(c.etcd3.hosts, 'etcd-a:2379,etcd-b:2379');
    assert.is(c.kubernetes, undefined);
    const roles = find(objects, 'Role').filter((r) => !r.metadata.annotations?.['helm.sh/hook']);
    assert.equal(
      roles.map((r) => r.rules),
      [[{ apiGroups: [''], resources: ['pods'], verbs: ['patch'], resourceNames: ['db-pgfleet-shard-0-0', 'db-pgfleet-shard-0-1'] }]],
    );
    assert.is(one(objects, 'StatefulSet', S).spec.template.spec.automountServiceAccountToken, true);
  },
);
store.run();

const auth = suite('authentication in patroni.yml');
auth('SCRAM everywhere, superuser only from inside the pod, TLS required on the network', () => {
  const c = cfg();
  const hba: string[] = c.postgresql.pg_hba;
  assert.ok(
    hba.every((l) => !/\s(trust|md5|password)$/.test(l)),
    hba.join('\n'),
  );
  const superReject = hba.indexOf('host all postgres all reject');
  assert.ok(superReject >= 0, 'superuser network reject rule missing');
  assert.ok(hba.findIndex((l) => /^hostssl all all all/.test(l)) > superReject, 'superuser reject must precede the generic rule');
  assert.is(hba.at(-1), 'hostnossl all all all reject');
  assert.is(c.postgresql.parameters.ssl, 'on');
  assert.is(c.postgresql.authentication.replication.sslmode, 'verify-ca');
  assert.is(c.postgresql.authentication.superuser.password, undefined, 'passwords must come from the environment');
});
auth('tls.enabled=false: plain host rules, no ssl parameters', () => {
  const c = cfg({ 'tls.enabled': false });
  assert.ok(c.postgresql.pg_hba.every((l: string) => !l.startsWith('hostssl')));
  assert.is(c.postgresql.parameters.ssl, undefined);
  assert.is(c.postgresql.authentication.replication.sslmode, undefined);
});
auth('extra pg_hba lines go before the generic rule and the final reject', () => {
  const hba: string[] = cfg({ 'postgresql.extraPgHba[0]': 'hostssl app app 10.0.0.0/8 scram-sha-256' }).postgresql.pg_hba;
  const extra = hba.indexOf('hostssl app app 10.0.0.0/8 scram-sha-256');
  assert.ok(extra > 0 && extra < hba.findIndex((l) => l.startsWith('hostssl all all all')));
});
auth('role names follow values: the database container hands them to the post-bootstrap script, which creates them idempotently', () => {
  const { objects } = render({ set: { 'auth.appUser': 'shop', 'postgresql.database': 'orders' } });
  const env = chartEnv(dbContainer(objects));
  assert.equal([env.PGFLEET_APP_USER, env.PGFLEET_APP_DB, env.PGFLEET_ADMIN_USER, env.PGFLEET_POOLER_USER], ['shop', 'orders', 'admin', 'pgfleet_pooler']);
  const script: string = one(objects, 'ConfigMap', 'db-pgfleet-scripts').data['post-bootstrap.sh'];
  assert.is(script, readFileSync(join(chartDir, 'files', 'scripts', 'post-bootstrap.sh'), 'utf8'), 'the file as it is, no templating');
  assert.match(script, /-v app_user="\$PGFLEET_APP_USER"/);
  assert.match(script, /-v app_db="\$PGFLEET_APP_DB"/);
  assert.match(script, /WHERE NOT EXISTS \(SELECT FROM pg_roles WHERE rolname = :'app_user'\)/);
  assert.match(script, /SECURITY DEFINER/);
  assert.match(script, /NOT rolsuper AND NOT rolreplication/);
  assert.is(patroniConfig(objects, S).bootstrap.post_bootstrap, '/opt/pgfleet/scripts/post-bootstrap.sh');
});
auth.run();
