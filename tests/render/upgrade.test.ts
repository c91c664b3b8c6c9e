// What an upgrade sees: with the previous release's objects served by a fake API server, `lookup` reuses
// generated credentials and certificates instead of rotating them (which would lock Patroni out of its data).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { one, render, renderAsync, type K8sObject } from '../../scripts/lib/helm.ts';
import { startFakeApiServer, type FakeApiServer } from '../lib/fake-apiserver.ts';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chartDir } from '../../scripts/lib/tools.ts';
import { patroniConfig } from '../lib/patroni.ts';
import type { SetValues } from '../../schema/values-paths.ts';

const upgrade = suite('upgrade reuses generated secrets');
let installed: K8sObject[] = [];
let api: FakeApiServer;
upgrade.before(async () => {
  installed = render({ set: { shards: 2 } }).objects;
  api = await startFakeApiServer(installed);
});
upgrade.after(async () => {
  await api?.close();
});

upgrade('passwords are kept, not regenerated', async () => {
  const { objects } = await renderAsync({ set: { shards: 2 }, apiServer: api.url });
  assert.equal(one(objects, 'Secret', 'db-pgfleet-auth').data, one(installed, 'Secret', 'db-pgfleet-auth').data);
  assert.ok(api.requests.includes('GET /api/v1/namespaces/default/secrets/db-pgfleet-auth'), api.requests.join('\n'));
});
upgrade('the TLS certificate and CA are kept', async () => {
  const { objects } = await renderAsync({ set: { shards: 2 }, apiServer: api.url });
  assert.equal(one(objects, 'Secret', 'db-pgfleet-tls').data, one(installed, 'Secret', 'db-pgfleet-tls').data);
});
upgrade('a fresh install (nothing to look up) generates new ones', async () => {
  const empty = await startFakeApiServer([]);
  try {
    const { objects } = await renderAsync({ set: { shards: 2 }, apiServer: empty.url });
    assert.is.not(one(objects, 'Secret', 'db-pgfleet-auth').data['app-password'], one(installed, 'Secret', 'db-pgfleet-auth').data['app-password']);
  } finally {
    await empty.close();
  }
});
upgrade.run();

const rolls = suite('what an upgrade rolls');
const podTemplates = (objects: K8sObject[]) =>
  objects.filter((o) => ['StatefulSet', 'Deployment'].includes(o.kind)).map((o) => [o.metadata.name, JSON.stringify((o as any).spec.template)]);
rolls('a chart version bump alone changes no pod template (no database pod restarts, no switchover)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-bumped-'));
  try {
    cpSync(chartDir, dir, { recursive: true });
    const chartYaml = join(dir, 'Chart.yaml');
    writeFileSync(
      chartYaml,
      readFileSync(chartYaml, 'utf8')
        .replace(/^version: .*$/m, 'version: 99.0.0')
        .replace(/^appVersion: .*$/m, 'appVersion: "99"'),
    );
    const set = { shards: 2, replicas: 2 };
    const before = render({ set }).objects;
    const after = render({ set, chart: dir }).objects;
    assert.ok(JSON.stringify(after).includes('99.0.0'), 'the bumped chart is the one rendered');
    assert.equal(podTemplates(after), podTemplates(before));
    assert.ok(podTemplates(before).length >= 6);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
rolls('a change to a bootstrap-only setting (bootstrap.dcs) rolls no pod', () => {
  const before = podTemplates(render({ set: { shards: 2 } }).objects);
  for (const set of [
    { 'postgresql.parameters.work_mem': '8MB' },
    { 'patroni.ttl': 40 },
    { 'patroni.synchronousMode': 'on' },
    { 'patroni.maximumLagOnFailover': 2097152 },
  ] as Record<string, string | number>[]) {
    assert.equal(podTemplates(render({ set: { shards: 2, ...set } }).objects), before, JSON.stringify(set));
  }
});
rolls('a change Patroni reads from its local configuration still rolls the pods', () => {
  assert.is.not(JSON.stringify(podTemplates(render({ set: { 'patroni.logLevel': 'DEBUG' } }).objects)), JSON.stringify(podTemplates(render().objects)));
});
rolls.run();

const dcsSync = suite('dcs-sync: helm upgrade applies bootstrap.dcs to running shards');
const syncJobs = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Job' && o.metadata.name.endsWith('-dcs-sync'));
const syncEnv = (job: K8sObject, name: string) => JSON.parse(job.spec.template.spec.containers[0].env.find((e: any) => e.name === name).value);
dcsSync("rendered only on an upgrade, one post-upgrade Job per shard, with the shard's rendered bootstrap.dcs", () => {
  assert.is(syncJobs(render({ set: { shards: 2 } }).objects).length, 0, 'not on install (nor in an offline render)');
  const { objects } = render({ set: { shards: 2, 'postgresql.parameters.work_mem': '8MB' }, args: ['--is-upgrade'] });
  const jobs = syncJobs(objects);
  assert.equal(
    jobs.map((j) => j.metadata.name),
    ['db-pgfleet-shard-0-dcs-sync', 'db-pgfleet-shard-1-dcs-sync'],
  );
  for (const [i, job] of jobs.entries()) {
    assert.is(job.metadata.annotations['helm.sh/hook'], 'post-upgrade');
    assert.equal(syncEnv(job, 'PGFLEET_DCS_DESIRED'), patroniConfig(objects, `db-pgfleet-shard-${i}`).bootstrap.dcs);
    assert.is(syncEnv(job, 'PGFLEET_DCS_DESIRED').postgresql.parameters.work_mem, '8MB');
    assert.is(job.spec.template.spec.containers[0].env.find((e: any) => e.name === 'PGFLEET_PATRONI_HOST').value, `db-pgfleet-shard-${i}-headless.default.svc`);
    assert.equal(syncEnv(job, 'PGFLEET_DCS_PREVIOUS'), {}, 'nothing to look up');
  }
});
dcsSync("the previous release's bootstrap.dcs comes from its ConfigMap, so dropped keys can be removed", async () => {
  const api = await startFakeApiServer(render({ set: { 'postgresql.parameters.work_mem': '8MB' } }).objects);
  try {
    const { objects } = await renderAsync({ args: ['--is-upgrade'], apiServer: api.url });
    const job = syncJobs(objects)[0]!;
    assert.is(syncEnv(job, 'PGFLEET_DCS_PREVIOUS').postgresql.parameters.work_mem, '8MB');
    assert.not.ok('work_mem' in syncEnv(job, 'PGFLEET_DCS_DESIRED').postgresql.parameters);
  } finally {
    await api.close();
  }
});
dcsSync("the database NetworkPolicy admits the shard's own hook to Patroni's port, and nothing else new", () => {
  const { objects } = render({ set: { shards: 2 }, args: ['--is-upgrade'] });
  const policy = one(objects, 'NetworkPolicy', 'db-pgfleet-shard-1');
  const rule = policy.spec.ingress.find((r: any) => r.from.some((f: any) => f.podSelector?.matchLabels?.['app.kubernetes.io/component'] === 'dcs-sync'));
  assert.equal(rule.ports, [{ port: 8008, protocol: 'TCP' }]);
  assert.equal(rule.from, [
    {
      podSelector: {
        matchLabels: {
          'app.kubernetes.io/name': 'pgfleet',
          'app.kubernetes.io/instance': 'db',
          'app.kubernetes.io/component': 'dcs-sync',
          'pgfleet.io/shard': '1',
        },
      },
    },
  ]);
  const labels = syncJobs(objects)[1]!.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(rule.from[0].podSelector.matchLabels)) assert.is(labels[k], v, `the hook's pod carries ${k}`);
});
dcsSync.run();

const guards = suite('upgrade guards refuse changes that lose data');
let state: FakeApiServer;
guards.before(async () => {
  state = await startFakeApiServer(render({ set: { shards: 3 } }).objects);
});
guards.after(async () => {
  await state?.close();
});
const upgradeWith = (set: SetValues) => renderAsync({ set: { shards: 3, ...set }, apiServer: state.url });
const refused = async (set: SetValues, message: string) => {
  try {
    await upgradeWith(set);
  } catch (e) {
    assert.match((e as Error).message, message);
    return;
  }
  assert.unreachable(`upgrade with ${JSON.stringify(set)} was accepted`);
};

guards('lowering shards is refused, naming the shards it would drop', () =>
  refused({ shards: 2 }, 'shards: lowering it from 3 to 2 would delete the StatefulSets of shards 2..2'),
);
guards('lowering shards is allowed with upgradeGuards.allowShardRemoval', async () => {
  const { objects } = await upgradeWith({ shards: 2, 'upgradeGuards.allowShardRemoval': true });
  assert.is(objects.filter((o) => o.kind === 'StatefulSet').length, 2);
});
guards('adding shards is allowed', async () => {
  assert.is((await upgradeWith({ shards: 4 })).objects.filter((o) => o.kind === 'StatefulSet').length, 4);
});
guards('role and database names are fixed after bootstrap', async () => {
  await refused({ 'auth.appUser': 'shop' }, 'auth.appUser: cannot change from "app" to "shop"');
  await refused({ 'postgresql.database': 'shop' }, 'postgresql.database: cannot change');
});
guards('the DCS cannot be switched under a running cluster', () =>
  refused({ 'patroni.dcs.type': 'etcd3', 'patroni.dcs.etcd3.hosts': '{etcd:2379}' }, 'patroni.dcs.type: cannot change from "kubernetes" to "etcd3"'),
);
guards('volume claim templates are immutable: size and class changes are refused before Kubernetes would', async () => {
  await refused({ 'storage.size': '20Gi' }, 'storage.size: cannot change from "10Gi" to "20Gi"');
  await refused({ 'storage.storageClass': 'fast' }, 'storage.storageClass: cannot change');
});
guards('an unchanged upgrade passes', async () => {
  assert.is((await upgradeWith({})).objects.filter((o) => o.kind === 'StatefulSet').length, 3);
});
guards.run();

const backupGuards = suite('upgrade guards: backup repositories');
let withBackups: FakeApiServer;
const backupValues = {
  'backups.enabled': true,
  'backups.s3.endpoint': 's3.example.com',
  'backups.s3.bucket': 'pg-backups',
  'backups.s3.region': 'eu-west-1',
  'backups.s3.existingSecret': 's3',
  'backups.encryption.existingSecret': 'cipher',
};
backupGuards.before(async () => {
  withBackups = await startFakeApiServer(render({ set: backupValues }).objects);
});
backupGuards.after(async () => {
  await withBackups?.close();
});
backupGuards('turning repository encryption off under existing stanzas is refused', async () => {
  try {
    await renderAsync({ set: { ...backupValues, 'backups.encryption.enabled': false }, apiServer: withBackups.url });
  } catch (e) {
    assert.match((e as Error).message, 'backups.encryption.enabled: cannot change from true to false');
    return;
  }
  assert.unreachable('encryption change accepted');
});
backupGuards('an unchanged backup configuration upgrades', async () => {
  const { objects } = await renderAsync({ set: backupValues, apiServer: withBackups.url });
  assert.ok(objects.some((o) => o.kind === 'CronJob'));
});
backupGuards.run();
