// `npm start [-- -f my-values.yaml --set key=value --name N]`: the chart's cluster as processes on this machine,
// the embedded default for users without Kubernetes. Data, credentials and the DCS persist across runs
// (`npm run local -- down --purge` wipes them). Prints connection strings that work verbatim and the member table,
// stays until Ctrl-C, SIGINT or SIGTERM (to this process, a wrapper, or the whole group), then stops everything.
import { spawnSync } from 'node:child_process';
import { LocalCluster } from './lib/local/backend.ts';
import { installedPatroni, PG_BIN } from './lib/local/packages.ts';
import { parseArgs } from './lib/args.ts';
import { alive } from './lib/local/state.ts';
import { readFileSync } from 'node:fs';

const args = parseArgs(process.argv.slice(2));
const name = String(args.flags.name ?? 'pgfleet');
const log = (l: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${l}`);
let cluster: LocalCluster | undefined;
let stopping = false;
const stop = async (why: string) => {
  if (stopping) {
    log(`${why}: still stopping the cluster`);
    return;
  }
  stopping = true;
  log(`${why}: tearing down`);
  // Signals arriving meanwhile are answered above; if this process is killed anyway, the cluster's reaper finishes.
  await cluster?.down();
  log(`stopped; data and credentials kept (npm run local -- down ${name} --purge deletes them)`);
  process.exit(0);
};
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void stop(sig));
// A wrapper that dies without passing the signal on (npm forwards SIGINT to its shell, which dies, and tsx never
// hears of it) would leave the cluster running: watch every ancestor up to the process group leader (npm as typed
// in a terminal) and stop as soon as one of them is gone.
const wrappers = ancestorsToGroupLeader();
setInterval(() => {
  const gone = wrappers.find((w) => !alive(w.pid) || w.starttime !== procStat(w.pid)?.starttime);
  if (gone) void stop(`${gone.name} (PID ${gone.pid}) exited`);
}, 250).unref();

const version = (cmd: string, re: RegExp, arg = '--version') => re.exec(spawnSync(cmd, [arg], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? '?';
log(
  `PostgreSQL ${version(`${PG_BIN}/postgres`, /(\d+\.\d+)/)}, Patroni ${installedPatroni() ?? '?'} (PyPI), PgBouncer ${version('/usr/sbin/pgbouncer', /PgBouncer (\S+)/)}, pgBackRest ${version('/usr/bin/pgbackrest', /pgBackRest (\S+)/, 'version')}, etcd ${version('/usr/bin/etcd', /etcd Version: (\S+)/)}`,
);

try {
  cluster = await LocalCluster.up({ name, values: args.values, set: args.set, log, persist: true });
} catch (err) {
  console.error(`\nnpm start failed: ${(err as Error).message}`);
  process.exit(1);
}
if (stopping) await new Promise(() => {}); // a signal came during start-up: stop() exits

const endpoints = cluster.endpoints();
console.log('\nConnection strings (the application role; Service names resolve on this machine through /etc/hosts):');
for (const shard of await cluster.shards()) {
  console.log(`  ${shard}`);
  for (const e of endpoints.filter((x) => x.shard === shard)) console.log(`    ${e.kind.padEnd(8)} ${e.url}`);
}
const table = async () => {
  const rows = (await cluster!.members()).map((m) => [
    m.shard,
    m.name,
    m.host,
    m.role === 'primary' ? 'Leader' : m.sync ? 'Sync Standby' : m.role === 'replica' ? 'Replica' : '?',
    m.state,
    String(m.timeline ?? ''),
    m.lag === undefined ? '' : String(Math.round(m.lag / 1048576)),
  ]);
  const head = ['Cluster', 'Member', 'Host', 'Role', 'State', 'TL', 'Lag in MB'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (c: string[]) => '| ' + c.map((x, i) => x.padEnd(w[i]!)).join(' | ') + ' |';
  const sep = '+' + w.map((x) => '-'.repeat(x + 2)).join('+') + '+';
  return [sep, line(head), sep, ...rows.map(line), sep].join('\n');
};
console.log(`\n${await table()}\n`);
const nameFlag = name === 'pgfleet' ? '' : ` --name ${name}`;
console.log(
  `From another terminal: npm run local -- psql <shard> [rw|ro|primary|replicas]${nameFlag}, npm run local -- patronictl list${nameFlag}, npm run local -- status`,
);
console.log(`Pod logs: ${cluster.dir}/pods/<pod>/<container>.log   Ctrl-C stops everything (the data stays).`);
// Stay up; print the member table when it changes.
let last = '';
for (;;) {
  await new Promise((r) => setTimeout(r, 5000));
  if (stopping) break;
  const t = await table().catch(() => last);
  if (t !== last && last) console.log(`\n${t}`);
  last = t;
}

/** Fields of /proc/<pid>/stat that identify a process: its parent, its group, its start time (PIDs are reused). */
function procStat(pid: number): { name: string; ppid: number; pgrp: number; starttime: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { name, ppid: Number(f[1]), pgrp: Number(f[2]), starttime: f[19]! };
  } catch {
    return undefined;
  }
}

/** This process's ancestors, from its parent up to its process group leader (only the parent if the leader is not among them). */
function ancestorsToGroupLeader(): { pid: number; name: string; starttime: string }[] {
  const self = procStat(process.pid);
  const out: { pid: number; name: string; starttime: string }[] = [];
  for (let pid = process.ppid; pid > 1 && out.length < 8;) {
    const st = procStat(pid);
    if (!st) break;
    out.push({ pid, name: st.name, starttime: st.starttime });
    if (pid === self?.pgrp) return out;
    pid = st.ppid;
  }
  return out.slice(0, 1);
}
