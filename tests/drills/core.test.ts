// Tier 2: the rendered chart runs as processes (local backend) and survives the drills. One cluster for the
// suite (replicas: 2, synchronous mode on), under Docker's FORWARD DROP policy, torn down in `after` even when an
// assertion fails.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { LocalCluster } from '../../scripts/lib/local/backend.ts';
import { runDrill, table, type DrillResult } from '../../scripts/lib/drills/index.ts';
import { alive, loadState, stateDir } from '../../scripts/lib/local/state.ts';
import { namespacePids } from '../../scripts/lib/local/net.ts';
import { waitFor } from '../../scripts/lib/proc.ts';

const NAME = 'tdcore';
const log = (l: string) => console.log(`  [${new Date().toISOString().slice(11, 19)}] ${l}`);
const drills = suite('drills: core (local backend, replicas 2, synchronous mode)');
let cluster: LocalCluster;
let namespaces: string[] = [];
let ttl = 0;
const results: DrillResult[] = [];
const run = async (name: string) => {
  const r = await runDrill(cluster, name, { runs: 1, log, timeoutS: 90 });
  results.push(r);
  return r;
};

// Docker's FORWARD policy (DROP, with bridge-nf-call-iptables on) is what a user with Docker installed has: the
// local cluster must work under it. Restored in `after`.
let forwardPolicy = '';

drills.before(async () => {
  forwardPolicy = /^-P FORWARD (\w+)/m.exec(spawnSync('iptables', ['-w', '-S', 'FORWARD'], { encoding: 'utf8' }).stdout)?.[1] ?? '';
  spawnSync('sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=1']);
  spawnSync('iptables', ['-w', '-P', 'FORWARD', 'DROP']);
  // uvu does not print a failing hook's error: say it here.
  cluster = await LocalCluster.up({ name: NAME, octet: 91, set: { replicas: 2, 'patroni.synchronousMode': 'on' }, log, readyTimeoutS: 150 }).catch((err) => {
    console.error(`cluster did not come up: ${err.message}`);
    throw err;
  });
  namespaces = [...loadState(NAME)!.namespaces];
  ttl = (await cluster.dynamicConfig((await cluster.shards())[0]!)).ttl;
});

drills.after(async () => {
  await cluster?.down();
  if (forwardPolicy) spawnSync('iptables', ['-w', '-P', 'FORWARD', forwardPolicy]);
  if (results.length) console.log(table(results));
});

drills('pods: each container is PID 1 of its own PID namespace, and exec enters the running container', async () => {
  const shard = (await cluster.shards())[0]!;
  const db = (await cluster.primary(shard))!.name;
  const comm = async (pod: string) => (await cluster.exec(pod, ['cat', '/proc/1/comm'])).stdout.trim();
  assert.is(await comm(db), 'patroni');
  for (const pod of await cluster.poolers(shard)) assert.is(await comm(pod), 'pgbouncer', pod);
});

drills(
  "Patroni REST API: a change without the chart's credentials is refused; probes, /cluster and /metrics stay open; the pod's own credentials work",
  async () => {
    const shard = (await cluster.shards())[0]!;
    const primary = (await cluster.primary(shard))!;
    const url = `http://${primary.host}:8008`;
    for (const path of ['/reload', '/restart', '/switchover', '/reinitialize']) {
      assert.is((await fetch(`${url}${path}`, { method: 'POST', body: '{}' })).status, 401, `POST ${path} without credentials`);
    }
    for (const path of ['/readiness', '/liveness', '/cluster', '/metrics']) assert.is((await fetch(`${url}${path}`)).status, 200, `GET ${path}`);
    const env = Object.fromEntries(
      (await cluster.exec(primary.name, ['env'])).stdout.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const auth = `Basic ${Buffer.from(`${env.PATRONI_RESTAPI_USERNAME}:${env.PATRONI_RESTAPI_PASSWORD}`).toString('base64')}`;
    assert.is((await fetch(`${url}/reload`, { method: 'POST', headers: { authorization: auth } })).status, 202, "POST /reload with the pod's credentials");
  },
);

drills('failover (SIGKILL): gap <= ttl + 2 s, no acknowledged write lost, old primary rejoins', async () => {
  const r = await run('failover');
  assert.is(r.acknowledgedWritesLost, 0);
  assert.ok(r.writeGapMs.p50 <= (ttl + 2) * 1000, `gap ${r.writeGapMs.p50} ms > ttl ${ttl} s + 2 s`);
  assert.ok(r.rejoinMs && r.rejoinMs.max > 0, 'old primary did not rejoin');
  assert.equal(r.failures, []);
});

drills('graceful (pod deletion): gap p50 <= 3 s over 3 runs, none lost; the preStop handover means no client error through a pooler', async () => {
  const r = await runDrill(cluster, 'graceful', { runs: 3, log, timeoutS: 90 });
  results.push(r);
  assert.is(r.acknowledgedWritesLost, 0);
  assert.ok(r.writeGapMs.p50 <= 3000, `gap ${r.writeGapMs.p50} ms > 3 s`);
  if ((await cluster.poolers(r.shard, 'rw')).length)
    assert.is(r.clientErrors, 0, `clients saw errors through the pooler: ${r.perRun.flatMap((x) => x.notes ?? []).join('; ')}`);
});

drills('switchover: gap <= 3 s, none lost; through a pooler no client error', async () => {
  const r = await run('switchover');
  assert.is(r.acknowledgedWritesLost, 0);
  assert.ok(r.writeGapMs.p50 <= 3000, `gap ${r.writeGapMs.p50} ms > 3 s`);
  if ((await cluster.poolers(r.shard, 'rw')).length) assert.is(r.clientErrors, 0, 'clients saw errors through the pooler');
});

drills("partition: the isolated old primary acknowledges nothing after the new primary's first write", async () => {
  const r = await run('partition');
  assert.is(r.splitBrainWrites, 0);
  assert.is(r.acknowledgedWritesLost, 0);
  assert.equal(r.failures, []);
});

drills('freeze (SIGSTOP longer than ttl, then SIGCONT), 5 runs: the resumed old primary steps down and rejoins, no acknowledged write lost', async () => {
  const r = await runDrill(cluster, 'freeze', { runs: 5, log, timeoutS: 120 });
  results.push(r);
  assert.is(r.acknowledgedWritesLost, 0, `${r.acknowledgedWritesLost} acknowledged writes lost`);
  assert.ok(
    r.perRun.every((x) => x.lockTakenBack === false),
    'the resumed old primary took the leader lock back',
  );
  assert.ok(r.rejoinMs && r.rejoinMs.max > 0, 'old primary did not rejoin');
  assert.equal(r.failures, []);
});

drills('control-plane-loss (etcd, the DCS, frozen longer than ttl): with failsafe mode the primary keeps serving, nothing acknowledged lost', async () => {
  const r = await run('control-plane-loss');
  assert.is(r.acknowledgedWritesLost, 0, `${r.acknowledgedWritesLost} acknowledged writes lost`);
  assert.ok(r.perRun[0]!.failsafeMode, 'the chart default turns failsafe mode on');
  assert.ok(r.perRun[0]!.writesAfterLockExpiry! > 0, 'no write was acknowledged after the leader lock expired');
  assert.equal(r.failures, []);
});

drills('pooler: a killed rw PgBouncer does not lose writes (or the drill refuses clearly without poolers)', async () => {
  const shard = (await cluster.shards())[0]!;
  if (!(await cluster.poolers(shard, 'rw')).length) {
    try {
      await run('pooler');
      assert.unreachable('the pooler drill ran without poolers');
    } catch (err) {
      assert.match((err as Error).message, /no rw pooler pods/);
    }
    return;
  }
  const r = await run('pooler');
  assert.is(r.acknowledgedWritesLost, 0);
  assert.ok(r.writeGapMs.p50 < 10_000, `clients did not recover within 10 s (${r.writeGapMs.p50} ms)`);
});

drills('pooler pod deletion: its preStop hook (`kill -INT 1`) reaches PgBouncer, which shuts down safely', async () => {
  const shard = (await cluster.shards())[0]!;
  const pod = (await cluster.poolers(shard, 'ro'))[0];
  if (!pod) return;
  const logFile = join(stateDir(NAME), 'pods', pod, 'pgbouncer.log');
  const before = readFileSync(logFile, 'utf8').length;
  await cluster.kill(pod, 'SIGTERM');
  const tail = readFileSync(logFile, 'utf8').slice(before);
  assert.match(tail, /got SIGINT, shutting down/, 'SIGINT (safe shutdown) from the hook, not the SIGTERM that follows it');
  await cluster.start(pod);
});

drills('replica-rebuild: a wiped replica rejoins with every acknowledged row', async () => {
  const r = await run('replica-rebuild');
  assert.ok(r.rejoinMs && r.rejoinMs.max > 0);
  assert.is(r.acknowledgedWritesLost, 0);
  const m = /holds (\d+) of (\d+) rows/.exec(r.perRun[0]!.notes!.join(' '));
  assert.ok(m && Number(m[1]) >= Number(m[2]) && Number(m[2]) > 0, `rebuilt replica is missing rows: ${r.perRun[0]!.notes}`);
});

drills('supervision: a killed etcd and a crashed container are started again, as a service manager and the kubelet would', async () => {
  const pidOf = (what: string) =>
    loadState(NAME)!
      .pids.filter((p) => p.what === what && alive(p.pid))
      .map((p) => p.pid)[0];
  const etcd = pidOf('etcd')!;
  process.kill(etcd, 'SIGKILL');
  await waitFor('etcd to run again', 30_000, async () => {
    const p = pidOf('etcd');
    return p !== undefined && p !== etcd;
  });
  const shard = (await cluster.shards())[0]!;
  await waitFor('the shard to see its DCS again', 60_000, async () => (await cluster.primary(shard))?.state === 'running');
  const pod = (await cluster.poolers(shard, 'ro'))[0];
  if (!pod) return;
  const wrapper = pidOf(`${pod}/pgbouncer`)!;
  const main = Number(readFileSync(`/proc/${wrapper}/task/${wrapper}/children`, 'utf8').trim().split(/\s+/)[0]);
  process.kill(main, 'SIGKILL');
  await waitFor(`${pod}'s pgbouncer container to run again`, 30_000, async () => {
    const p = pidOf(`${pod}/pgbouncer`);
    return p !== undefined && p !== wrapper;
  });
  // The new wrapper exists a moment before its PID 1 has exec'd pgbouncer (CI once sampled that moment and saw
  // the exec's own `cat` as PID 1): wait for pgbouncer as PID 1; waitFor throws if it never gets there.
  await waitFor(
    `${pod}'s restarted container to run pgbouncer as PID 1`,
    30_000,
    async () => (await cluster.exec(pod, ['cat', '/proc/1/comm'])).stdout.trim() === 'pgbouncer',
  );
});

drills('teardown leaves no process, namespace or state behind', async () => {
  await cluster.down();
  for (const ns of namespaces) {
    assert.is(existsSync(`/var/run/netns/${ns}`), false, `namespace ${ns} left behind`);
    assert.equal(namespacePids(ns), []);
  }
  assert.is(loadState(NAME), undefined);
  assert.not.match(spawnSync('iptables', ['-w', '-S', 'FORWARD'], { encoding: 'utf8' }).stdout, /pgfleet-local/, 'the FORWARD accept rules are removed');
});

drills.run();
