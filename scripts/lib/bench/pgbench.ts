// pgbench: the workloads the benchmark runs and the parser of pgbench 15's report (pure; unit-tested).

export type Workload = 'connect' | 'persistent';
export type Target = 'direct' | 'pooled';

/** The capacity targets of DESIGN.md "Numbers to beat": pooled tps / direct tps must reach `minRatio`. */
export const WORKLOADS: Record<Workload, { title: string; flags: string[]; minRatio: number }> = {
  connect: { title: 'connection per transaction (pgbench -S -C)', flags: ['-S', '-C'], minRatio: 10 },
  persistent: { title: 'persistent connections (pgbench -S)', flags: ['-S'], minRatio: 0.8 },
};

export type PgbenchOptions = { clients: number; threads: number; durationS: number };

/** pgbench argv (after the binary) for a measured run: no vacuum, select-only, a fixed duration. */
export function pgbenchArgs(workload: Workload, o: PgbenchOptions, conninfo: string): string[] {
  return ['-n', ...WORKLOADS[workload].flags, '-c', String(o.clients), '-j', String(o.threads), '-T', String(o.durationS), conninfo];
}

export type PgbenchResult = {
  tps: number;
  /** pgbench's own qualifier: "without initial connection time" or "including reconnection times". */
  tpsNote: string;
  transactions: number;
  failed: number;
  latencyMs: number;
  /** -C: average time to connect, per transaction. */
  connectionMs?: number;
  /** without -C: time to open the initial connections. */
  initialConnectionMs?: number;
  clients: number;
  threads: number;
  durationS: number;
  transactionType: string;
};

const num = (text: string, re: RegExp, what: string, required = true): number | undefined => {
  const m = re.exec(text);
  if (!m) {
    if (required) throw new Error(`pgbench output has no ${what}:\n${text}`);
    return undefined;
  }
  return Number(m[1]);
};

/** Parses pgbench's end-of-run report (PostgreSQL 15 format). Throws when a required line is missing. */
export function parsePgbench(stdout: string): PgbenchResult {
  const tps = /^tps = ([0-9.]+) \(([^)]*)\)$/m.exec(stdout);
  if (!tps) throw new Error(`pgbench output has no tps line:\n${stdout}`);
  const result: PgbenchResult = {
    tps: Number(tps[1]),
    tpsNote: tps[2]!,
    transactions: num(stdout, /^number of transactions actually processed: (\d+)/m, 'transaction count')!,
    failed: num(stdout, /^number of failed transactions: (\d+)/m, 'failed transaction count', false) ?? 0,
    latencyMs: num(stdout, /^latency average = ([0-9.]+) ms$/m, 'average latency')!,
    clients: num(stdout, /^number of clients: (\d+)$/m, 'client count')!,
    threads: num(stdout, /^number of threads: (\d+)$/m, 'thread count')!,
    durationS: num(stdout, /^duration: (\d+) s$/m, 'duration')!,
    transactionType: /^transaction type: (.*)$/m.exec(stdout)?.[1] ?? '',
  };
  const conn = num(stdout, /^average connection time = ([0-9.]+) ms$/m, 'connection time', false);
  if (conn !== undefined) result.connectionMs = conn;
  const initial = num(stdout, /^initial connection time = ([0-9.]+) ms$/m, 'initial connection time', false);
  if (initial !== undefined) result.initialConnectionMs = initial;
  if (!Number.isFinite(result.tps) || result.tps < 0) throw new Error(`pgbench reported an invalid tps: ${tps[1]}`);
  return result;
}
