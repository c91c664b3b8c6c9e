// `npm run local -- <command>`: the local cluster from another terminal.
//   status                     recorded clusters, what runs, where their data is
//   psql <shard> [rw|ro|primary|replicas] [psql args...]   psql as the application role through a Service (default rw)
//   patronictl <args...>       patronictl inside a running database container (e.g. `list`, `switchover`)
//   down [name] [--purge]      stops what a cluster left running; --purge also deletes its data and credentials
// `--name N` picks the cluster (default pgfleet, what `npm start` runs).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from './lib/args.ts';
import { listStates, loadState, running, stateRoot, teardown } from './lib/local/state.ts';
import { namespacePids } from './lib/local/net.ts';
import { ENDPOINTS_FILE, containerExec, readEndpoints, type ServiceKind } from './lib/local/access.ts';

const [cmd, ...rest] = process.argv.slice(2);
const fail = (msg: string): never => {
  console.error(msg);
  process.exit(2);
};
const usage =
  'usage: npm run local -- status | psql <shard> [rw|ro|primary|replicas] [psql args] | patronictl <args> | down [name] [--purge]   (--name N: another cluster than pgfleet)';

/** `--name N` anywhere before the tool's own arguments. */
function takeName(args: string[]): [string, string[]] {
  const i = args.indexOf('--name');
  if (i < 0) return ['pgfleet', args];
  const name = args[i + 1] ?? fail('--name needs a value');
  return [name, [...args.slice(0, i), ...args.slice(i + 2)]];
}

function runningState(name: string) {
  const s = loadState(name);
  if (!s || !running(s)) fail(`no local cluster named ${name} is running (npm start brings one up)`);
  return s!;
}

if (cmd === 'down') {
  const a = parseArgs(rest, ['purge']);
  const names = a.positionals.length ? a.positionals : listStates();
  if (!names.length) console.log(`no local cluster recorded under ${stateRoot()}`);
  for (const n of names) {
    const s = loadState(n);
    if (!s) {
      console.log(`${n}: nothing recorded`);
      continue;
    }
    const purge = Boolean(a.flags.purge) || !s.persist;
    await teardown(s, { keepData: !purge });
    console.log(
      `${n}: stopped ${s.namespaces.length} namespaces${s.bridge ? `, removed bridge ${s.bridge}` : ''}; ${purge ? `removed ${s.dir}` : `data and credentials kept in ${s.dir} (--purge deletes them)`}`,
    );
  }
} else if (cmd === 'status') {
  const names = listStates();
  if (!names.length) console.log(`no local cluster recorded under ${stateRoot()}`);
  for (const n of names) {
    const s = loadState(n)!;
    const procs = s.namespaces.reduce((a, ns) => a + namespacePids(ns).length, 0);
    const what = running(s) ? `running since ${s.startedAt} (PID ${s.owner}), ${s.namespaces.length} namespaces, ${procs} processes` : 'stopped';
    console.log(`${n}: ${what}; data in ${s.dir}${s.persist ? ' (kept across runs)' : ''}`);
    if (running(s) && existsSync(`${s.dir}/${ENDPOINTS_FILE}`)) {
      for (const e of readEndpoints(s.dir)) console.log(`  ${e.shard} ${e.kind.padEnd(8)} ${e.service} ${e.host}:${e.port} (${e.tls ? 'TLS' : 'plaintext'})`);
    }
  }
} else if (cmd === 'psql') {
  const [name, args] = takeName(rest);
  const s = runningState(name);
  const [shard, maybeKind, ...psqlArgs] = args;
  if (!shard) fail(usage);
  const kinds: ServiceKind[] = ['rw', 'ro', 'primary', 'replicas'];
  const kind = kinds.includes(maybeKind as ServiceKind) ? (maybeKind as ServiceKind) : 'rw';
  const extra = kinds.includes(maybeKind as ServiceKind) ? psqlArgs : [maybeKind, ...psqlArgs].filter((x): x is string => x !== undefined);
  const endpoints = readEndpoints(s.dir);
  const e =
    endpoints.find((x) => (x.shard === shard || x.shard.endsWith(`-${shard}`) || x.shard.endsWith(`-shard-${shard}`)) && x.kind === kind) ??
    fail(`no ${kind} endpoint for shard ${shard}; shards: ${[...new Set(endpoints.map((x) => x.shard))].join(', ')}`);
  const r = spawnSync('psql', [e.url, ...extra], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
} else if (cmd === 'patronictl') {
  const [name, args] = takeName(rest);
  const s = runningState(name);
  process.exit(containerExec(s, 'postgres', ['patronictl', '-c', '/etc/patroni/patroni.yml', ...args]));
} else {
  fail(usage);
}
