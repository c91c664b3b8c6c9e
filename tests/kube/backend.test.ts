// The kube backend cannot reach a cluster here: its kubectl command construction is tested with a fake runner.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ISOLATED_LABEL, KubeCluster, type Runner } from '../../scripts/lib/kube/backend.ts';

type Call = { args: string[]; input?: string };
function fake(responses: [RegExp, string][] = []): { run: Runner; calls: Call[] } {
  const calls: Call[] = [];
  const run: Runner = (args, input) => {
    calls.push({ args, input });
    const line = args.join(' ');
    const hit = responses.find(([re]) => re.test(line));
    return hit ? { status: 0, stdout: hit[1], stderr: '' } : { status: 0, stdout: '{"items":[]}', stderr: '' };
  };
  return { run, calls };
}
const opts = { context: 'staging', namespace: 'db', release: 'pg' };

const commands = suite('kube backend: command construction');

commands('every call targets the given context and namespace', async () => {
  const f = fake();
  const k = new KubeCluster(opts, f.run);
  await k.shards();
  assert.equal(f.calls[0]!.args.slice(0, 4), ['--context', 'staging', '--namespace', 'db']);
  assert.equal(f.calls[0]!.args.slice(4), ['get', 'statefulsets', '-l', 'app.kubernetes.io/component=database,app.kubernetes.io/instance=pg', '-o', 'json']);
});

commands('SIGKILL is a forced pod deletion, SIGTERM a normal one', async () => {
  const f = fake();
  const k = new KubeCluster(opts, f.run);
  await k.kill('pg-shard-0-1', 'SIGKILL');
  await k.kill('pg-shard-0-1', 'SIGTERM');
  assert.equal(f.calls[0]!.args.slice(4), ['delete', 'pod', 'pg-shard-0-1', '--grace-period=0', '--force', '--wait=false']);
  assert.equal(f.calls[1]!.args.slice(4), ['delete', 'pod', 'pg-shard-0-1', '--wait=false']);
});

commands('partition applies a deny-all NetworkPolicy for the pod and labels it; heal removes both', async () => {
  const f = fake();
  const k = new KubeCluster(opts, f.run);
  await k.partition('pg-shard-0-0');
  assert.equal(f.calls[0]!.args.slice(4), ['apply', '-f', '-']);
  const policy = JSON.parse(f.calls[0]!.input!);
  assert.is(policy.kind, 'NetworkPolicy');
  assert.equal(policy.spec.policyTypes, ['Ingress', 'Egress']);
  assert.equal(policy.spec.ingress, []);
  assert.equal(policy.spec.egress, []);
  assert.equal(policy.spec.podSelector.matchLabels, { 'statefulset.kubernetes.io/pod-name': 'pg-shard-0-0', [ISOLATED_LABEL]: 'true' });
  assert.equal(f.calls[1]!.args.slice(4), ['label', 'pod', 'pg-shard-0-0', `${ISOLATED_LABEL}=true`, '--overwrite']);
  await k.heal();
  assert.equal(f.calls[2]!.args.slice(4), ['delete', 'networkpolicy', '-l', 'pgfleet.io/drill=isolate', '--ignore-not-found']);
  assert.equal(f.calls[3]!.args.slice(4), ['label', 'pods', '-l', ISOLATED_LABEL, `${ISOLATED_LABEL}-`]);
});

const PODS = JSON.stringify({ items: ['pg-shard-0-0', 'pg-shard-0-1', 'pg-shard-0-2'].map((n, i) => ({ metadata: { name: n }, status: { phase: 'Running', podIP: `10.0.0.${i + 1}` } })) });
const LIST = JSON.stringify([
  { Cluster: 'pg-shard-0', Member: 'pg-shard-0-0', Host: '10.0.0.1', Role: 'Leader', State: 'running', TL: 3 },
  { Cluster: 'pg-shard-0', Member: 'pg-shard-0-1', Host: '10.0.0.2', Role: 'Sync Standby', State: 'streaming', TL: 3, 'Lag in MB': 0 },
  { Cluster: 'pg-shard-0', Member: 'pg-shard-0-2', Host: '10.0.0.3', Role: 'Replica', State: 'streaming', TL: 3, 'Lag in MB': 1 },
]);

commands('members come from patronictl list inside a running pod', async () => {
  const f = fake([[/get pods -l cluster-name=pg-shard-0/, PODS], [/patronictl -c \/etc\/patroni\/patroni.yml list --format json/, LIST]]);
  const k = new KubeCluster(opts, f.run);
  const ms = await k.members('pg-shard-0');
  assert.equal(ms.map((m) => [m.name, m.role, m.state, m.host, m.sync]), [
    ['pg-shard-0-0', 'primary', 'running', '10.0.0.1', false],
    ['pg-shard-0-1', 'replica', 'streaming', '10.0.0.2', true],
    ['pg-shard-0-2', 'replica', 'streaming', '10.0.0.3', false],
  ]);
  assert.is(ms[2]!.lag, 1 << 20);
  assert.equal(f.calls[1]!.args.slice(4), ['exec', 'pg-shard-0-0', '-c', 'postgres', '--', 'patronictl', '-c', '/etc/patroni/patroni.yml', 'list', '--format', 'json']);
});

commands('switchover runs the chart\'s switchover script on the leader, to the synchronous standby by default', async () => {
  const f = fake([[/get pods/, PODS], [/list --format json/, LIST]]);
  const k = new KubeCluster(opts, f.run);
  assert.is(await k.switchover('pg-shard-0'), 'pg-shard-0-1');
  assert.equal(f.calls.at(-1)!.args.slice(4), ['exec', 'pg-shard-0-0', '-c', 'postgres', '--', '/opt/pgfleet/scripts/switchover', '--candidate', 'pg-shard-0-1']);
});

commands('member SQL runs psql in the pod over the Unix socket, query passed as an argument (never spliced into the shell)', () => {
  const k = new KubeCluster(opts, fake().run);
  const args = k.memberSqlArgs('pg-shard-0-0', "SELECT 'x; rm -rf /'", 'app');
  assert.equal(args.slice(0, 6), ['exec', 'pg-shard-0-0', '-c', 'postgres', '--', 'sh']);
  assert.is(args.at(-1), "SELECT 'x; rm -rf /'");
  assert.is(args.at(-2), 'app');
  assert.ok(!args[7]!.includes('rm -rf'));
});

commands('wipe deletes the claim then the pod; backups run a Job from the CronJob and wait for it', () => {
  const k = new KubeCluster(opts, fake().run);
  assert.equal(k.wipeArgs('pg-shard-0-2'), [['delete', 'pvc', 'data-pg-shard-0-2', '--wait=false'], ['delete', 'pod', 'pg-shard-0-2', '--wait=true']]);
  assert.equal(k.backupJobArgs('pg-shard-0-backup-full', 'j1'), [['create', 'job', 'j1', '--from=cronjob/pg-shard-0-backup-full'], ['wait', '--for=condition=complete', 'job/j1', '--timeout=900s']]);
  assert.equal(k.portForwardArgs('pg-shard-0-pgbouncer-rw', 6432), ['--context', 'staging', '--namespace', 'db', 'port-forward', 'service/pg-shard-0-pgbouncer-rw', ':6432']);
});

commands('a PgBouncer Service speaks TLS to clients only when its rendered ini says so', () => {
  const ini = (mode: string) => fake([[/get configmap/, `[pgbouncer]\nlisten_port = 6432\nclient_tls_sslmode = ${mode}\n`]]);
  const off = ini('disable');
  assert.is(new KubeCluster(opts, off.run).poolerTls('pg-shard-0-pgbouncer-rw'), false);
  assert.equal(off.calls[0]!.args.slice(4), ['get', 'configmap', 'pg-shard-0-pgbouncer-rw', '-o', 'jsonpath={.data.pgbouncer\\.ini}']);
  assert.is(new KubeCluster(opts, ini('require').run).poolerTls('x'), true);
});

commands('a failing kubectl surfaces its stderr', async () => {
  const k = new KubeCluster(opts, () => ({ status: 1, stdout: '', stderr: 'error: context "staging" does not exist' }));
  try { await k.shards(); assert.unreachable(); } catch (err) { assert.match((err as Error).message, /context "staging" does not exist/); }
});

commands.run();
