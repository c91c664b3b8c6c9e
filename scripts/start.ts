// `npm start [-- -f my-values.yaml --set key=value]`: the chart's cluster as processes on this machine.
// Prints connection strings and the member table, stays until Ctrl-C, then tears everything down.
import { LocalCluster } from './lib/local/backend.ts';
import { parseArgs } from './lib/args.ts';

const args = parseArgs(process.argv.slice(2));
const name = String(args.flags.name ?? 'pgfleet');
const log = (l: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${l}`);
let cluster: LocalCluster | undefined;
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  log('tearing down');
  await cluster?.down();
  log('stopped; nothing left running');
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  cluster = await LocalCluster.up({ name, values: args.values, set: args.set, log });
} catch (err) {
  console.error(`\nnpm start failed: ${(err as Error).message}`);
  process.exit(1);
}

console.log('\nConnection strings (from this machine; the application role, password from the rendered auth Secret):');
for (const shard of await cluster.shards()) {
  console.log(`  ${shard}`);
  const names = { rw: 'read-write', ro: 'read-only', primary: 'primary', replicas: 'replicas' } as const;
  const seen = new Set<string>();
  for (const service of ['rw', 'ro', 'primary', 'replicas'] as const) {
    const c = await cluster.connection({ service, shard });
    const url = `postgresql://${c.user}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${c.database}?sslmode=${c.tls ? 'require' : 'disable'}`;
    if (seen.has(url)) continue;
    seen.add(url);
    console.log(`    ${names[service].padEnd(11)} ${url}`);
  }
}
const table = async () => {
  const rows = (await cluster!.members()).map((m) => [m.shard, m.name, m.host, m.role === 'primary' ? 'Leader' : m.sync ? 'Sync Standby' : m.role === 'replica' ? 'Replica' : '?', m.state, String(m.timeline ?? ''), m.lag === undefined ? '' : String(Math.round(m.lag / 1048576))]);
  const head = ['Cluster', 'Member', 'Host', 'Role', 'State', 'TL', 'Lag in MB'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (c: string[]) => '| ' + c.map((x, i) => x.padEnd(w[i]!)).join(' | ') + ' |';
  const sep = '+' + w.map((x) => '-'.repeat(x + 2)).join('+') + '+';
  return [sep, line(head), sep, ...rows.map(line), sep].join('\n');
};
console.log(`\n${await table()}\n`);
console.log(`Pod logs: ${cluster.dir}/pods/<pod>/<container>.log   Ctrl-C stops everything.`);
// Stay up; print the member table when it changes.
let last = '';
for (;;) {
  await new Promise((r) => setTimeout(r, 5000));
  if (stopping) break;
  const t = await table().catch(() => last);
  if (t !== last && last) console.log(`\n${t}`);
  last = t;
}
