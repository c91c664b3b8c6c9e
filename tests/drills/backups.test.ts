// Tier 2 with backups on: pgBackRest to s3rver (TLS), a backup Job run from the rendered CronJob, point-in-time
// restore in place (exactly the rows acknowledged before the target), and a replica rebuilt from the repository.
// Where the chart renders no pgBackRest configuration the drills must refuse clearly instead.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { LocalCluster } from '../../scripts/lib/local/backend.ts';
import { runDrill, table, type DrillResult } from '../../scripts/lib/drills/index.ts';
import { loadState } from '../../scripts/lib/local/state.ts';

const NAME = 'tdbackup';
const log = (l: string) => console.log(`  [${new Date().toISOString().slice(11, 19)}] ${l}`);
const drills = suite('drills: backups (local backend, replicas 2, synchronous mode, backups on)');
let cluster: LocalCluster;
let namespaces: string[] = [];
const results: DrillResult[] = [];

drills.before(async () => {
  cluster = await LocalCluster.up({
    name: NAME,
    octet: 92,
    set: { replicas: 2, 'patroni.synchronousMode': 'on', 'backups.enabled': true },
    log,
    readyTimeoutS: 150,
  }).catch((err) => {
    console.error(`cluster did not come up: ${err.message}`);
    throw err;
  });
  namespaces = [...loadState(NAME)!.namespaces];
});

drills.after(async () => {
  await cluster?.down();
  if (results.length) console.log(table(results));
});

drills('restore: backup, more writes, PITR between them: exactly the rows acknowledged before the target', async () => {
  if (!(await cluster.backupsEnabled())) {
    try {
      await runDrill(cluster, 'restore', { log });
      assert.unreachable('restore ran without backups');
    } catch (err) {
      assert.match((err as Error).message, /needs backups.enabled=true/);
    }
    return;
  }
  const r = await runDrill(cluster, 'restore', { log, timeoutS: 180 });
  results.push(r);
  const note = r.perRun[0]!.notes!.join(' ');
  assert.is(r.acknowledgedWritesLost, 0, note);
  assert.is(r.extraRows, 0, note);
  assert.match(note, /restored (\d+) rows; expected exactly the \1 acknowledged/);
  assert.equal(r.failures, []);
});

drills('replica-rebuild with backups on: the wiped replica comes back from the repository with every row', async () => {
  const r = await runDrill(cluster, 'replica-rebuild', { log, timeoutS: 180 });
  results.push(r);
  const m = /holds (\d+) of (\d+) rows/.exec(r.perRun[0]!.notes!.join(' '));
  assert.ok(m && Number(m[1]) >= Number(m[2]) && Number(m[2]) > 0, `rebuilt replica is missing rows: ${r.perRun[0]!.notes}`);
  assert.is(r.acknowledgedWritesLost, 0);
});

drills('teardown leaves no namespace or state behind', async () => {
  await cluster.down();
  for (const ns of namespaces) assert.is(existsSync(`/var/run/netns/${ns}`), false, `namespace ${ns} left behind`);
  assert.is(loadState(NAME), undefined);
});

drills.run();
