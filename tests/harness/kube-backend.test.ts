// The kube backend cannot reach a cluster here: its kubectl command construction is tested with a fake runner.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ISOLATED_LABEL, KubeCluster, POD_SIGNAL_SCRIPT, type NodeAccess, type Runner } from '../../scripts/lib/kube/backend.ts';

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

commands("app credentials come from the database container's environment; a release before 0.11.2 falls back to its release state", async () => {
  for (const [env, wantState] of [
    ['PGFLEET_APP_PASSWORD=pw\nPGFLEET_APP_USER=shop\nPGFLEET_APP_DB=orders', false],
    ['PGFLEET_APP_PASSWORD=pw', true],
  ] as const) {
    const calls: string[] = [];
    const run: Runner = (args) => {
      const line = args.join(' ');
      calls.push(line);
      if (/get pods -l/.test(line)) return { status: 0, stdout: PODS, stderr: '' };
      if (/-- env$/.test(line)) return { status: 0, stdout: env, stderr: '' };
      if (/get configmaps -l app.kubernetes.io\/component=release-state,app.kubernetes.io\/instance=pg/.test(line))
        return { status: 0, stdout: JSON.stringify({ items: [{ data: { 'auth.appUser': 'shop', 'postgresql.database': 'orders' } }] }), stderr: '' };
      if (/ cat \/etc\/pgfleet\/tls\/ca.crt$/.test(line)) return { status: 1, stdout: '', stderr: 'No such file' };
      return { status: 0, stdout: '1', stderr: '' };
    };
    const k = new KubeCluster(opts, run);
    await k.sql({ member: 'pg-shard-0-0' }, 'SELECT 1');
    const query = calls.find((c) => c.includes('psql'))!;
    assert.ok(query.includes(' orders SELECT 1'), query);
    assert.is(
      calls.some((c) => c.includes('release-state')),
      wantState,
    );
  }
});

commands('every call targets the given context and namespace', async () => {
  const f = fake();
  const k = new KubeCluster(opts, f.run);
  await k.shards();
  assert.equal(f.calls[0]!.args.slice(0, 4), ['--context', 'staging', '--namespace', 'db']);
  assert.equal(f.calls[0]!.args.slice(4), ['get', 'statefulsets', '-l', 'app.kubernetes.io/component=database,app.kubernetes.io/instance=pg', '-o', 'json']);
});

const POD = (restarts: number, uid = 'u1') =>
  JSON.stringify({
    metadata: { name: 'pg-shard-0-1', uid, labels: { role: 'replica', 'cluster-name': 'pg-shard-0' } },
    spec: { nodeName: 'node-b' },
    status: {
      phase: 'Running',
      podIP: '10.0.0.2',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ restartCount: restarts }, { restartCount: 0 }],
    },
  });

/** Node access that records what it was asked to do. */
function nodes(): NodeAccess & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    sh: async (node, script, args) => {
      calls.push(['sh', node, script === POD_SIGNAL_SCRIPT ? 'POD_SIGNAL_SCRIPT' : script, ...args]);
      return '101 102';
    },
    pause: async (node) => {
      calls.push(['pause', node]);
    },
    unpause: async (node) => {
      calls.push(['unpause', node]);
    },
    execArgv: (node) => ['on', node],
  };
}

commands('without node access SIGKILL is a forced pod deletion; SIGTERM is always a normal one', async () => {
  const f = fake([[/get pod pg-shard-0-1/, POD(0)]]);
  const k = new KubeCluster(opts, f.run);
  await k.kill('pg-shard-0-1', 'SIGKILL');
  await k.kill('pg-shard-0-1', 'SIGTERM');
  const deletes = f.calls.filter((c) => c.args[4] === 'delete').map((c) => c.args.slice(4));
  assert.equal(deletes, [
    ['delete', 'pod', 'pg-shard-0-1', '--grace-period=0', '--force', '--wait=false'],
    ['delete', 'pod', 'pg-shard-0-1', '--wait=false'],
  ]);
});

commands(
  "with node access SIGKILL kills the pod's containers on its node (no deletion); freeze and thaw are SIGSTOP and SIGCONT there; a node is paused and resumed",
  async () => {
    const f = fake([[/get pod pg-shard-0-1/, POD(0)]]);
    const n = nodes();
    const k = new KubeCluster({ ...opts, nodes: n }, f.run);
    await k.kill('pg-shard-0-1', 'SIGKILL');
    await k.freeze('pg-shard-0-1');
    await k.thaw('pg-shard-0-1');
    assert.is(await k.stopNode('pg-shard-0-1'), 'node-b');
    await k.startNode('node-b');
    assert.equal(n.calls, [
      ['sh', 'node-b', 'POD_SIGNAL_SCRIPT', 'KILL', 'db', 'pg-shard-0-1'],
      ['sh', 'node-b', 'POD_SIGNAL_SCRIPT', 'STOP', 'db', 'pg-shard-0-1'],
      ['sh', 'node-b', 'POD_SIGNAL_SCRIPT', 'CONT', 'db', 'pg-shard-0-1'],
      ['pause', 'node-b'],
      ['unpause', 'node-b'],
    ]);
    assert.not.ok(
      f.calls.some((c) => c.args[4] === 'delete'),
      'no pod deletion',
    );
    // the script finds the pod's sandbox by exact name and namespace through the CRI, and signals every process of every container
    assert.match(POD_SIGNAL_SCRIPT, /crictl pods --namespace "\$2" --name "\^\$3\\\$"/);
    assert.match(POD_SIGNAL_SCRIPT, /kill -s "\$1" \$pids/);
  },
);

commands("the control plane is frozen on its nodes, API server first, through each static pod's containers; thawed in reverse", async () => {
  const cp = JSON.stringify({ items: [{ metadata: { name: 'cp-1' } }] });
  const f = fake([[/get nodes -l node-role.kubernetes.io\/control-plane -o json/, cp]]);
  const n = nodes();
  const k = new KubeCluster({ ...opts, nodes: n }, f.run);
  await k.freezeControlPlane();
  await k.thawControlPlane();
  const sent = (sig: string) => n.calls.filter((c) => c[3] === sig).map((c) => [c[1], c[2], c[4], c[5]]);
  const pods = ['kube-apiserver-cp-1', 'kube-controller-manager-cp-1', 'kube-scheduler-cp-1', 'etcd-cp-1'];
  assert.equal(
    sent('STOP'),
    pods.map((p) => ['cp-1', 'POD_SIGNAL_SCRIPT', 'kube-system', p]),
  );
  assert.equal(
    sent('CONT'),
    [...pods].reverse().map((p) => ['cp-1', 'POD_SIGNAL_SCRIPT', 'kube-system', p]),
  );
  assert.is(n.calls.length, 8);
  // an interrupted drill: close() thaws what is still frozen
  await k.freezeControlPlane();
  await k.close();
  assert.equal(
    n.calls.slice(12).map((c) => [c[3], c[5]]),
    [...pods].reverse().map((p) => ['CONT', p]),
  );
  await k.close();
  assert.is(n.calls.length, 16, 'thawed once');
  const none = new KubeCluster(opts, fake([[/get nodes/, cp]]).run);
  try {
    await none.freezeControlPlane();
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /freezing the control plane needs access to the cluster's nodes/);
  }
});

commands('freeze, SIGKILL and node loss without node access fail with a clear error', async () => {
  const k = new KubeCluster(opts, fake([[/get pod/, POD(0)]]).run);
  for (const f of [() => k.freeze('pg-shard-0-1'), () => k.stopNode('pg-shard-0-1')]) {
    try {
      await f();
      assert.unreachable();
    } catch (err) {
      assert.match((err as Error).message, /needs access to the cluster's nodes/);
    }
  }
});

commands('start waits for the killed pod to restart, then for it to be Ready and a ready endpoint of every Service selecting it', async () => {
  let gets = 0;
  const svc = {
    items: [
      { metadata: { name: 'pg-shard-0-replicas' }, spec: { selector: { 'cluster-name': 'pg-shard-0', role: 'replica' } } },
      { metadata: { name: 'pg-shard-0-primary' }, spec: { selector: { 'cluster-name': 'pg-shard-0', role: 'primary' } } },
    ],
  };
  let slicesAsked = 0;
  const run: Runner = (args) => {
    const line = args.join(' ');
    if (/get pod pg-shard-0-1/.test(line)) return { status: 0, stdout: POD(++gets > 2 ? 1 : 0), stderr: '' };
    if (/get services/.test(line)) return { status: 0, stdout: JSON.stringify(svc), stderr: '' };
    if (/get endpointslices/.test(line)) {
      const ready = ++slicesAsked > 1;
      return {
        status: 0,
        stdout: JSON.stringify({
          items: [
            {
              metadata: { labels: { 'kubernetes.io/service-name': 'pg-shard-0-replicas' } },
              endpoints: [{ addresses: ['10.0.0.2'], targetRef: { kind: 'Pod', name: 'pg-shard-0-1' }, conditions: { ready } }],
            },
          ],
        }),
        stderr: '',
      };
    }
    return { status: 0, stdout: '{"items":[]}', stderr: '' };
  };
  const k = new KubeCluster({ ...opts, nodes: nodes() }, run);
  await k.kill('pg-shard-0-1', 'SIGKILL');
  await k.start('pg-shard-0-1', 10_000);
  assert.ok(gets >= 3, 'waited for the restart count to grow');
  assert.is(slicesAsked, 2, 'waited for the endpoint to be ready');
});

commands("the primary Service's ready addresses come from its EndpointSlices", async () => {
  const slices = {
    items: [
      {
        endpoints: [
          { addresses: ['10.0.0.1'], conditions: { ready: true } },
          { addresses: ['10.0.0.9'], conditions: { ready: false } },
        ],
      },
      { endpoints: [{ addresses: ['10.0.0.2'], conditions: { ready: true } }] },
    ],
  };
  const f = fake([[/get endpointslices -l kubernetes.io\/service-name=pg-shard-0-primary/, JSON.stringify(slices)]]);
  assert.equal(await new KubeCluster(opts, f.run).primaryEndpoints('pg-shard-0'), ['10.0.0.1', '10.0.0.2']);
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

const PODS = JSON.stringify({
  items: ['pg-shard-0-0', 'pg-shard-0-1', 'pg-shard-0-2'].map((n, i) => ({ metadata: { name: n }, status: { phase: 'Running', podIP: `10.0.0.${i + 1}` } })),
});
const LIST = JSON.stringify([
  { Cluster: 'pg-shard-0', Member: 'pg-shard-0-0', Host: '10.0.0.1', Role: 'Leader', State: 'running', TL: 3 },
  { Cluster: 'pg-shard-0', Member: 'pg-shard-0-1', Host: '10.0.0.2', Role: 'Sync Standby', State: 'streaming', TL: 3, 'Receive Lag': 0, 'Replay Lag': 0 },
  // Patroni 4 reports `Replay Lag` in MB; 3.x reported `Lag in MB`
  { Cluster: 'pg-shard-0', Member: 'pg-shard-0-2', Host: '10.0.0.3', Role: 'Replica', State: 'streaming', TL: 3, 'Receive Lag': 1, 'Replay Lag': 2 },
]);
const LIST3 = JSON.stringify([
  { Cluster: 'pg-shard-0', Member: 'pg-shard-0-0', Host: '10.0.0.1', Role: 'Leader', State: 'running', TL: 3 },
  { Cluster: 'pg-shard-0', Member: 'pg-shard-0-2', Host: '10.0.0.3', Role: 'Replica', State: 'streaming', TL: 3, 'Lag in MB': 3 },
]);

commands('members come from patronictl list inside a running pod', async () => {
  const f = fake([
    [/get pods -l cluster-name=pg-shard-0/, PODS],
    [/patronictl -c \/etc\/patroni\/patroni.yml list --format json/, LIST],
  ]);
  const k = new KubeCluster(opts, f.run);
  const ms = await k.members('pg-shard-0');
  assert.equal(
    ms.map((m) => [m.name, m.role, m.state, m.host, m.sync]),
    [
      ['pg-shard-0-0', 'primary', 'running', '10.0.0.1', false],
      ['pg-shard-0-1', 'replica', 'streaming', '10.0.0.2', true],
      ['pg-shard-0-2', 'replica', 'streaming', '10.0.0.3', false],
    ],
  );
  assert.is(ms[2]!.lag, 2 << 20);
  assert.equal(f.calls[1]!.args.slice(4), [
    'exec',
    'pg-shard-0-0',
    '-c',
    'postgres',
    '--',
    'patronictl',
    '-c',
    '/etc/patroni/patroni.yml',
    'list',
    '--format',
    'json',
  ]);
  const old = await new KubeCluster(
    opts,
    fake([
      [/get pods -l cluster-name=pg-shard-0/, PODS],
      [/list --format json/, LIST3],
    ]).run,
  ).members('pg-shard-0');
  assert.is(old[2]!.lag, 3 << 20);
});

commands('a frozen pod is not asked: patronictl runs in the next one', async () => {
  const f = fake([
    [/get pods -l cluster-name=pg-shard-0/, PODS],
    [/get pod pg-shard-0-0/, JSON.stringify({ metadata: { name: 'pg-shard-0-0' }, spec: { nodeName: 'node-a' } })],
    [/list --format json/, LIST],
  ]);
  const k = new KubeCluster({ ...opts, nodes: nodes() }, f.run);
  await k.freeze('pg-shard-0-0');
  await k.members('pg-shard-0');
  assert.equal(
    f.calls.filter((c) => c.args.includes('patronictl')).map((c) => c.args[5]),
    ['pg-shard-0-1'],
  );
});

commands("switchover runs the chart's switchover script on the leader, to the synchronous standby by default", async () => {
  const f = fake([
    [/get pods/, PODS],
    [/list --format json/, LIST],
  ]);
  const k = new KubeCluster(opts, f.run);
  assert.is(await k.switchover('pg-shard-0'), 'pg-shard-0-1');
  assert.equal(f.calls.at(-1)!.args.slice(4), [
    'exec',
    'pg-shard-0-0',
    '-c',
    'postgres',
    '--',
    '/opt/pgfleet/scripts/switchover',
    '--candidate',
    'pg-shard-0-1',
  ]);
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
  assert.equal(k.wipeArgs('pg-shard-0-2'), [
    ['delete', 'pvc', 'data-pg-shard-0-2', '--wait=false'],
    ['delete', 'pod', 'pg-shard-0-2', '--wait=true'],
  ]);
  assert.equal(k.backupJobArgs('pg-shard-0-backup-full', 'j1'), [
    ['create', 'job', 'j1', '--from=cronjob/pg-shard-0-backup-full'],
    ['wait', '--for=condition=complete', 'job/j1', '--timeout=900s'],
  ]);
  assert.equal(k.portForwardArgs('pg-shard-0-pgbouncer-rw-abc', 6432), [
    '--context',
    'staging',
    '--namespace',
    'db',
    'port-forward',
    'pod/pg-shard-0-pgbouncer-rw-abc',
    ':6432',
  ]);
});

commands("a restore empties the shard first: no pod, every member's claim, its DCS ConfigMaps; without a way to upgrade it refuses", async () => {
  const k = new KubeCluster(opts, fake().run);
  assert.equal(k.emptyShardArgs('pg-shard-1', 3), [
    ['scale', 'statefulset', 'pg-shard-1', '--replicas=0'],
    ['wait', '--for=delete', 'pod', '-l', 'cluster-name=pg-shard-1', '--timeout=300s'],
    ['delete', 'pvc', '--ignore-not-found', '--wait=true', 'data-pg-shard-1-0', 'data-pg-shard-1-1', 'data-pg-shard-1-2'],
    ['delete', 'configmap', '-l', 'cluster-name=pg-shard-1', '--ignore-not-found'],
  ]);
  await k.restore('pg-shard-1', new Date()).then(
    () => assert.unreachable('restored without an upgrade'),
    (e) => assert.match((e as Error).message, 'KubeOptions.upgrade'),
  );
});

commands('a client connection goes to a ready endpoint of the Service, picked at random like kube-proxy does', async () => {
  const slices = {
    items: [
      {
        ports: [{ port: 6432 }],
        endpoints: [
          { addresses: ['10.0.0.5'], targetRef: { kind: 'Pod', name: 'rw-a' }, conditions: { ready: true } },
          { addresses: ['10.0.0.6'], targetRef: { kind: 'Pod', name: 'rw-b' }, conditions: { ready: false } },
          { addresses: ['10.0.0.7'], targetRef: { kind: 'Pod', name: 'rw-c' }, conditions: { ready: true } },
        ],
      },
    ],
  };
  const f = fake([[/get endpointslices -l kubernetes.io\/service-name=pg-shard-0-pgbouncer-rw/, JSON.stringify(slices)]]);
  const k = new KubeCluster(opts, f.run);
  const seen = new Set<string>();
  for (let i = 0; i < 60; i++) seen.add(JSON.stringify(await k.pickEndpoint('pg-shard-0-pgbouncer-rw')));
  assert.equal([...seen].sort(), [JSON.stringify({ pod: 'rw-a', port: 6432 }), JSON.stringify({ pod: 'rw-c', port: 6432 })]);
  try {
    await new KubeCluster(opts, fake().run).pickEndpoint('none');
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /service none has no ready endpoint/);
  }
});

commands('a PgBouncer Service speaks TLS to clients only when its rendered ini says so', async () => {
  const ini = (mode: string) => fake([[/get configmap/, `[pgbouncer]\nlisten_port = 6432\nclient_tls_sslmode = ${mode}\n`]]);
  const off = ini('disable');
  assert.is(await new KubeCluster(opts, off.run).poolerTls('pg-shard-0-pgbouncer-rw'), false);
  assert.equal(off.calls[0]!.args.slice(4), ['get', 'configmap', 'pg-shard-0-pgbouncer-rw', '-o', 'jsonpath={.data.pgbouncer\\.ini}']);
  assert.is(await new KubeCluster(opts, ini('require').run).poolerTls('x'), true);
});

commands('a failing kubectl surfaces its stderr', async () => {
  const k = new KubeCluster(opts, () => ({ status: 1, stdout: '', stderr: 'error: context "staging" does not exist' }));
  try {
    await k.shards();
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /context "staging" does not exist/);
  }
});

commands('port-forwards: one per pod, reused while it runs, never replaced under a connected client; close() stops them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-kubectl-'));
  const kubectl = join(dir, 'kubectl');
  // a kubectl whose port-forward prints a local port and stays up, counting its starts
  writeFileSync(kubectl, `#!/bin/sh\necho x >> ${join(dir, 'starts')}\necho "Forwarding from 127.0.0.1:$((20000 + $$ % 20000)) -> 6432"\nexec sleep 60\n`, {
    mode: 0o755,
  });
  let serving = 'rw-a';
  const slice = () =>
    JSON.stringify({
      items: [{ ports: [{ port: 6432 }], endpoints: [{ addresses: ['10.0.0.9'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: serving } }] }],
    });
  const pods = JSON.stringify({ items: [JSON.parse(POD(0))] });
  const run: Runner = (args) => {
    const line = args.join(' ');
    if (/get endpointslices/.test(line)) return { status: 0, stdout: slice(), stderr: '' };
    if (/get pods -l/.test(line)) return { status: 0, stdout: pods, stderr: '' };
    if (/-- env$/.test(line)) return { status: 0, stdout: 'PGFLEET_APP_PASSWORD=pw\nPGFLEET_APP_USER=app\nPGFLEET_APP_DB=app', stderr: '' };
    return { status: 0, stdout: '', stderr: '' };
  };
  const k = new KubeCluster({ ...opts, kubectl }, run);
  const starts = () => readFileSync(join(dir, 'starts'), 'utf8').split('\n').filter(Boolean).length;
  try {
    const a1 = await k.connection({ service: 'rw', shard: 'pg-shard-0' });
    const a2 = await k.connection({ service: 'rw', shard: 'pg-shard-0' });
    assert.is(a2.port, a1.port, 'a second client of the same pod shares its forward');
    assert.is(starts(), 1);
    serving = 'rw-b'; // the Service moved (a failover)
    const b = await k.connection({ service: 'rw', shard: 'pg-shard-0' });
    assert.is(starts(), 2, 'the new pod gets its own forward');
    assert.is.not(b.port, a1.port);
    serving = 'rw-a';
    assert.is((await k.connection({ service: 'rw', shard: 'pg-shard-0' })).port, a1.port, 'the first forward was left running for its clients');
    assert.is(starts(), 2);
  } finally {
    await k.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

commands.run();
