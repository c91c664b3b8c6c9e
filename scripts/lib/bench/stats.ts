// Medians, spreads and pooled/direct ratios of the benchmark's runs (pure; unit-tested).
import { WORKLOADS, type Target, type Workload } from './pgbench.ts';

/** A chart configuration the bench runs: `tls`, `plain`, ... (see VARIANTS in run.ts). */
export type Variant = string;

/** CPU seconds a run cost the client (pgbench), the pooler (PgBouncer) and PostgreSQL (postmaster + backends). */
export type Cpu = { client: number; pooler: number; server: number };

/** One measured pgbench run. */
export type Run = {
  variant: Variant;
  workload: Workload;
  target: Target;
  /** 1-based repetition; direct and pooled of the same rep ran back to back. */
  rep: number;
  startedAt: string;
  /** 1-minute load average when the run started and ended. */
  load: [number, number];
  tps: number;
  transactions: number;
  failed: number;
  latencyMs: number;
  connectionMs?: number;
  cpu?: Cpu;
  /** CPU seconds the rest of the machine (other users' work) used during the run: machine busy time minus cpu. */
  otherCpu?: number;
};

export type Spread = { median: number; min: number; max: number; values: number[] };

export type Summary = {
  variant: Variant;
  workload: Workload;
  direct: Spread;
  pooled: Spread;
  /** median(pooled tps) / median(direct tps): the headline number. */
  ratio: number;
  /** pooled/direct of each repetition (both ran back to back): their spread shows the drift. */
  pairedRatios: Spread;
  minRatio: number;
  met: boolean;
  /** Median CPU milliseconds per transaction of each side, where measured. */
  cpuMsPerTxn?: { direct: Cpu; pooled: Cpu };
  /**
   * Derived, not measured throughput: (pooler + PostgreSQL CPU per direct transaction) / (the same, pooled). What the
   * ratio would approach if the clients ran elsewhere and the database side were the bottleneck.
   */
  dbCpuRatio?: number;
};

export function median(xs: number[]): number {
  if (!xs.length) throw new Error('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function spread(values: number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), values };
}

/** One summary per (variant, workload) that has both direct and pooled runs, in first-seen order. */
export function summarize(runs: Run[]): Summary[] {
  const keys: string[] = [];
  for (const r of runs) if (!keys.includes(`${r.variant}/${r.workload}`)) keys.push(`${r.variant}/${r.workload}`);
  const out: Summary[] = [];
  for (const key of keys) {
    const [variant, workload] = key.split('/') as [Variant, Workload];
    const of = (t: Target) => runs.filter((r) => r.variant === variant && r.workload === workload && r.target === t).sort((a, b) => a.rep - b.rep);
    const direct = of('direct');
    const pooled = of('pooled');
    if (!direct.length || !pooled.length) continue;
    const paired = direct.flatMap((d) => {
      const p = pooled.find((x) => x.rep === d.rep);
      return p && d.tps > 0 ? [p.tps / d.tps] : [];
    });
    const d = spread(direct.map((r) => r.tps));
    const p = spread(pooled.map((r) => r.tps));
    const ratio = d.median > 0 ? p.median / d.median : Number.POSITIVE_INFINITY;
    const minRatio = WORKLOADS[workload].minRatio;
    const summary: Summary = {
      variant,
      workload,
      direct: d,
      pooled: p,
      ratio,
      pairedRatios: spread(paired.length ? paired : [ratio]),
      minRatio,
      met: ratio >= minRatio,
    };
    const dc = cpuPerTxn(direct);
    const pc = cpuPerTxn(pooled);
    if (dc && pc) {
      summary.cpuMsPerTxn = { direct: dc, pooled: pc };
      const db = (c: Cpu) => c.pooler + c.server;
      if (db(pc) > 0) summary.dbCpuRatio = Math.round((db(dc) / db(pc)) * 100) / 100;
    }
    out.push(summary);
  }
  return out;
}

/** Median over runs of CPU milliseconds per transaction (client, pooler, server); undefined when a run lacks it. */
export function cpuPerTxn(runs: Run[]): Cpu | undefined {
  if (!runs.length || runs.some((r) => !r.cpu || r.transactions <= 0)) return undefined;
  const per = (k: keyof Cpu) => Math.round(median(runs.map((r) => (r.cpu![k] * 1000) / r.transactions)) * 1000) / 1000;
  return { client: per('client'), pooler: per('pooler'), server: per('server') };
}

/** The order of one repetition: direct first on odd reps, pooled first on even ones, so drift hits both. */
export function order(rep: number): Target[] {
  return rep % 2 ? ['direct', 'pooled'] : ['pooled', 'direct'];
}
