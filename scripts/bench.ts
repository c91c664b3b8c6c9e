// `npm run bench`: PgBouncer as the chart renders it vs direct PostgreSQL, pgbench side by side on this machine.
// Prints a table and writes docs/benchmarks.md and docs/benchmarks.json (logic: scripts/lib/bench/).
// Options: --reps N --duration S --warmup S --clients N --threads N --scale N --pause S
//          --variants tls,tls-plain-clients,plain,tls-addhost --workloads connect,persistent --set key=value (repeatable) --out DIR (default docs)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { serverDir } from './lib/localpg.ts';
import { consoleTable, markdown } from './lib/bench/report.ts';
import { DEFAULTS, VARIANTS, runBench, type BenchConfig } from './lib/bench/run.ts';
import { root } from './lib/tools.ts';

const { values: a } = parseArgs({
  options: {
    reps: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    clients: { type: 'string' },
    threads: { type: 'string' },
    scale: { type: 'string' },
    pause: { type: 'string' },
    variants: { type: 'string' },
    workloads: { type: 'string' },
    set: { type: 'string', multiple: true },
    out: { type: 'string' },
  },
});
const positive = (name: string, v: string | undefined, dflt: number, max: number) => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name}: must be an integer from 1 to ${max}, got ${v}`);
  return n;
};
const listOf = <T extends string>(name: string, v: string | undefined, allowed: readonly T[], dflt: T[]): T[] => {
  if (v === undefined) return dflt;
  const items = v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  for (const x of items) if (!allowed.includes(x as T)) throw new Error(`--${name}: ${x} is not one of ${allowed.join(', ')}`);
  return items as T[];
};
const config: BenchConfig = {
  reps: positive('reps', a.reps, DEFAULTS.reps, 20),
  durationS: positive('duration', a.duration, DEFAULTS.durationS, 600),
  warmupS: positive('warmup', a.warmup, DEFAULTS.warmupS, 120),
  clients: positive('clients', a.clients, DEFAULTS.clients, 500),
  threads: positive('threads', a.threads, DEFAULTS.threads, 64),
  scale: positive('scale', a.scale, DEFAULTS.scale, 1000),
  pauseS: positive('pause', a.pause, DEFAULTS.pauseS, 60),
  variants: listOf('variants', a.variants, Object.keys(VARIANTS), DEFAULTS.variants),
  workloads: listOf('workloads', a.workloads, ['connect', 'persistent'] as const, DEFAULTS.workloads),
  set: Object.fromEntries(
    (a.set ?? []).map((kv) => {
      const at = kv.indexOf('=');
      if (at < 1) throw new Error(`--set ${kv}: expected key=value`);
      return [kv.slice(0, at), kv.slice(at + 1)];
    }),
  ),
};
const out = a.out ?? join(root, 'docs');

// Every process the bench starts is registered here and stopped by its PID, last started first: in the finally
// below, and on Ctrl-C / SIGTERM (which also aborts a running pgbench).
const stops: { name: string; fn: () => Promise<void> | void }[] = [];
let stopping: Promise<void> | undefined;
const stopAll = () =>
  (stopping ??= (async () => {
    for (const s of stops.reverse()) {
      try {
        await s.fn();
      } catch (e) {
        console.error(`stopping ${s.name}: ${(e as Error).message}`);
      }
    }
  })());
const abort = new AbortController();
const dir = serverDir(mkdtempSync(join(tmpdir(), 'pgfleet-bench-')));
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${sig}: stopping pgbench, PgBouncer and PostgreSQL...`);
    abort.abort();
    void stopAll().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

const log = (s: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${s}`);
try {
  log(`bench: ${JSON.stringify(config)} in ${dir}`);
  const report = await runBench(config, dir, { defer: (name, fn) => stops.push({ name, fn }) }, abort.signal, log);
  console.log(`\n${consoleTable(report.summaries)}\n`);
  console.log(`load average (1 min): before ${report.load.before}, after ${report.load.after}, max ${report.load.max}`);
  writeFileSync(join(out, 'benchmarks.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(out, 'benchmarks.md'), markdown(report));
  log(`wrote ${join(out, 'benchmarks.md')} and benchmarks.json`);
} catch (e) {
  if (!interrupted) {
    console.error(`bench failed: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  }
} finally {
  if (!interrupted) {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
