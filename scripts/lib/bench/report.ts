// The benchmark's outputs from its Report (pure; unit-tested): the console table and docs/benchmarks.md.
import { WORKLOADS } from './pgbench.ts';
import type { Report } from './run.ts';
import type { Cpu, Spread, Summary } from './stats.ts';
import { VARIANTS, shortName } from './variants.ts';

const int = (x: number) => Math.round(x).toLocaleString('en-US');
const ratio = (x: number) => (x >= 10 ? x.toFixed(1) : x.toFixed(2));
const tpsCell = (s: Spread) => `${int(s.median)} (${int(s.min)}–${int(s.max)})`;
const range = (s: Summary) => `${ratio(s.pairedRatios.min)}–${ratio(s.pairedRatios.max)}`;
const ms = (x: number) => (x >= 10 ? x.toFixed(1) : x.toFixed(3));
const cpuCell = (c: Cpu) => `${ms(c.client)} / ${ms(c.pooler)} / ${ms(c.server)}`;

/** Fixed-width table for the terminal. */
export function consoleTable(summaries: Summary[]): string {
  const rows = [['variant', 'workload', 'direct tps', 'pooled tps', 'pooled/direct', 'target', 'met']];
  for (const s of summaries) {
    rows.push([
      shortName(s.variant),
      s.workload,
      tpsCell(s.direct),
      tpsCell(s.pooled),
      `${ratio(s.ratio)}x (${range(s)})`,
      `>= ${s.minRatio}x`,
      s.met ? 'yes' : 'NO',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function markdownTable(summaries: Summary[]): string {
  const lines = [
    '| variant | workload | direct tps: median (min–max) | pooled tps: median (min–max) | pooled / direct (per-rep range) | target | met |',
    '|---|---|---:|---:|---:|---:|:---:|',
  ];
  for (const s of summaries) {
    lines.push(
      `| ${shortName(s.variant)} | ${WORKLOADS[s.workload].title} | ${tpsCell(s.direct)} | ${tpsCell(s.pooled)} | **${ratio(s.ratio)}x** (${range(s)}) | >= ${s.minRatio}x | ${s.met ? 'yes' : '**no**'} |`,
    );
  }
  return lines.join('\n');
}

export function cpuTable(summaries: Summary[]): string {
  const withCpu = summaries.filter((s) => s.cpuMsPerTxn);
  if (!withCpu.length) return '';
  return [
    '| variant | workload | direct: client / pooler / PostgreSQL | pooled: client / pooler / PostgreSQL | database side, direct / pooled |',
    '|---|---|---:|---:|---:|',
    ...withCpu.map(
      (s) =>
        `| ${shortName(s.variant)} | ${s.workload} | ${cpuCell(s.cpuMsPerTxn!.direct)} | ${cpuCell(s.cpuMsPerTxn!.pooled)} | ${s.dbCpuRatio !== undefined ? `${ratio(s.dbCpuRatio)}x` : 'n/a'} |`,
    ),
  ].join('\n');
}

export function markdown(r: Report): string {
  const c = r.config;
  const e = r.environment;
  const sets = Object.entries(c.set).map(([k, v]) => `\`${k}=${v}\``);
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const other = r.load.otherShare
    ? ` While the runs went on, other work on the machine used a median ${pct(r.load.otherShare.median)} of its CPU (${pct(r.load.otherShare.min)}–${pct(r.load.otherShare.max)} per run: /proc/stat busy time minus the bench's own pgbench, PgBouncer and PostgreSQL).`
    : '';
  const loadNote =
    r.load.before >= 2
      ? `The machine was shared with other work: the 1-minute load average was ${r.load.before} when the bench started (${e.cpus} cores).${other} Both sides of each pair ran under it, back to back.`
      : `The 1-minute load average was ${r.load.before} when the bench started (${e.cpus} cores); during the runs it counts the bench's own processes too (up to ${r.load.max}).${other}`;
  const verdict = r.summaries
    .map((s) => `${shortName(s.variant)}, ${s.workload}: **${ratio(s.ratio)}x** (target >= ${s.minRatio}x, ${s.met ? 'met' : 'missed'})`)
    .join('; ');
  const variants = c.variants.map((v) => `- ${shortName(v)}: ${VARIANTS[v]?.title ?? v}`);
  const settings = Object.entries(r.poolerSettings).map(
    ([v, kv]) =>
      `- ${shortName(v)}: ${Object.entries(kv)
        .map(([k, val]) => `\`${k}=${val}\``)
        .join(', ')}`,
  );
  const rewrites = [...new Set(Object.values(r.rewrites).flat())].map((x) => `  - ${x}`);
  const cpu = cpuTable(r.summaries);
  return `<!-- Written by \`npm run bench\` (scripts/bench.ts, scripts/lib/bench/). Do not edit: re-run the benchmark. -->
# Benchmarks: PgBouncer as the chart renders it vs direct PostgreSQL

Measured ${r.generatedAt.slice(0, 16).replace('T', ' ')} UTC on commit ${e.commit}, chart ${e.chartVersion}, ${e.cpus} cores shared by
pgbench, PgBouncer and PostgreSQL. ${verdict}.

${markdownTable(r.summaries)}

Targets are DESIGN.md's "Numbers to beat": connection per transaction pooled >= 10x direct, persistent connections
pooled >= 0.8x direct. The ratio is median(pooled tps) / median(direct tps); the range after it is the lowest and
highest pooled/direct of single repetitions (direct and pooled of a repetition ran back to back).

Variants (each a separate \`helm template\`):
${variants.join('\n')}
${
  cpu
    ? `
### Where the CPU goes

CPU milliseconds per transaction, median over the repetitions: pgbench (bash \`times\`), the PgBouncer process, and
PostgreSQL's postmaster with its backends (/proc, live and reaped children; approximate). With \`-C\` every
transaction is also a new connection, so the client's share includes SCRAM's PBKDF2 (4096 iterations in PostgreSQL 15)
and, direct with TLS, a TLS handshake; PostgreSQL's includes a backend fork per direct connection. The last column is
derived, not a measured throughput: (PgBouncer + PostgreSQL CPU per direct transaction) / (the same, pooled), the ratio
the database side would allow if the clients did not share its cores (in a cluster they run in other pods).

${cpu}
`
    : ''
}
## Method

- One \`helm template\` of the chart per variant (release \`db\`, \`shards=1\`, ${sets.length ? `${sets.join(', ')}, ` : ''}the variant's values, everything else
  default) through \`scripts/lib/helm.ts\` \`render()\`. From it: shard 0's \`<shard>-pgbouncer-rw\` ConfigMap (\`pgbouncer.ini\`,
  \`make-userlist.sh\`, run as the init container runs it), the pooler pod's Secret volume (the auth Secret's
  \`pooler-password\`, the pooler Secret's admin and stats passwords), \`post-bootstrap.sh\` from the scripts ConfigMap run
  with the database pod's Secret environment (auth Secret), and \`patroni.yml\`'s initdb options, PostgreSQL parameters
  and pg_hba, with the rendered TLS Secret's key pair and CA.
- PostgreSQL 15 and PgBouncer 1.18 from Debian, both as the \`postgres\` OS user on 127.0.0.1 (\`scripts/lib/localpg.ts\`).
  Only what a pod differs in was rewritten:
${rewrites.join('\n')}
- PgBouncer settings it reported (\`SHOW CONFIG\`):
${settings.join('\n')}
- Data: \`pgbench -i -s ${c.scale}\` as the application role in its database. Clients: pgbench 15 as that role (SCRAM),
  ${c.clients} clients, ${c.threads} threads, \`-n -S\` (select-only), ${c.durationS} s per run; \`-C\` opens a new connection for
  every transaction. Direct runs connect to PostgreSQL as an application would (with TLS: \`sslmode=verify-full\`
  against the rendered CA and the Service name, since pg_hba requires \`hostssl\`); pooled runs connect to PgBouncer
  without TLS (\`client_tls_sslmode = disable\`, as rendered), and PgBouncer connects to PostgreSQL as rendered.
- Per variant: a ${c.warmupS} s warm-up of each side (not counted), then ${c.reps} repetitions of each workload, direct and pooled
  back to back, alternating which goes first; ${c.pauseS} s idle between runs.
- ${loadNote}

## Machine and versions

- ${e.cpus} x ${e.cpuModel}, ${e.memoryGiB} GiB RAM, ${e.os}, Linux ${e.kernel}
- ${e.postgres}; ${e.pgbench}; ${e.pgbouncer.replace(/\n/g, ' ')}; ${e.openssl}; Node.js ${e.node}

## Raw data

The same as docs/benchmarks.json.

\`\`\`json
${JSON.stringify(r, null, 2)}
\`\`\`
`;
}
