// The pure parts of `npm run bench`: pgbench and /proc parsing, medians and ratios, what is taken from the rendered
// chart, the pgbouncer.ini rewrite, and the markdown. No server runs and nothing is timed here.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { render } from '../../scripts/lib/helm.ts';
import { localIni } from '../../scripts/lib/localpg.ts';
import { parseBashTimes, parseMachineBusy, parseProcStat } from '../../scripts/lib/bench/cpu.ts';
import { WORKLOADS, parsePgbench, pgbenchArgs } from '../../scripts/lib/bench/pgbench.ts';
import { iniServer, patroniPostgres, renderedShard } from '../../scripts/lib/bench/rendered.ts';
import { consoleTable, markdown, markdownTable } from '../../scripts/lib/bench/report.ts';
import { DEFAULTS, type Report } from '../../scripts/lib/bench/run.ts';
import { median, order, spread, summarize, type Run } from '../../scripts/lib/bench/stats.ts';

/** A real pgbench 15.20 select-only report of 4 clients for 2 s; only the measured lines differ between -C and not. */
const pgbenchReport = (processed: number, latency: string, connection: string, tps: string) => `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 1
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: ${processed}
number of failed transactions: 0 (0.000%)
latency average = ${latency} ms
${connection}
tps = ${tps}
`;
const CONNECT = pgbenchReport(264, '30.568', 'average connection time = 15.128 ms', '130.856186 (including reconnection times)');
const PERSISTENT = pgbenchReport(19698, '0.405', 'initial connection time = 15.279 ms', '9885.358348 (without initial connection time)');

const parsing = suite('bench: parsing pgbench, bash times and /proc');

parsing('pgbench -C report: tps including reconnection times, the connection time', () => {
  const r = parsePgbench(CONNECT);
  assert.equal(r, {
    tps: 130.856186,
    tpsNote: 'including reconnection times',
    transactions: 264,
    failed: 0,
    latencyMs: 30.568,
    clients: 4,
    threads: 2,
    durationS: 2,
    transactionType: '<builtin: select only>',
    connectionMs: 15.128,
  });
});

parsing('pgbench persistent report: tps without initial connection time', () => {
  const r = parsePgbench(PERSISTENT);
  assert.is(r.tps, 9885.358348);
  assert.is(r.tpsNote, 'without initial connection time');
  assert.is(r.initialConnectionMs, 15.279);
  assert.is(r.connectionMs, undefined);
  assert.is(r.transactions, 19698);
});

parsing('a report without its tps or transaction count is refused, not read as zero', () => {
  assert.throws(() => parsePgbench(PERSISTENT.replace(/^tps = .*$/m, '')), /no tps line/);
  assert.throws(() => parsePgbench(PERSISTENT.replace(/^number of transactions.*$/m, '')), /transaction count/);
  assert.throws(() => parsePgbench('pgbench: error: connection to server failed\n'), /no tps line/);
});

parsing('pgbench argv: no vacuum, select-only, -C only for the connect workload', () => {
  const o = { clients: 32, threads: 2, durationS: 15 };
  assert.equal(pgbenchArgs('connect', o, 'host=h'), ['-n', '-S', '-C', '-c', '32', '-j', '2', '-T', '15', 'host=h']);
  assert.equal(pgbenchArgs('persistent', o, 'host=h'), ['-n', '-S', '-c', '32', '-j', '2', '-T', '15', 'host=h']);
  assert.is(WORKLOADS.connect.minRatio, 10);
  assert.is(WORKLOADS.persistent.minRatio, 0.8);
});

parsing("bash `times`: the second line is the children's CPU", () => {
  assert.equal(parseBashTimes('some error\n0m0.001s 0m0.002s\n1m2.500s 0m0.250s\n'), { user: 62.5, system: 0.25 });
  assert.throws(() => parseBashTimes('0m0.001s 0m0.002s\n'), /times/);
});

parsing('/proc/<pid>/stat: a command name with spaces and parentheses does not shift the fields', () => {
  const line = '4242 (postgres: app (x) idle) S 4000 4242 4242 0 -1 4194560 100 0 0 0 150 25 7 3 20 0 1 0 1000 2000 300 0';
  assert.equal(parseProcStat(line), { pid: 4242, ppid: 4000, utime: 150, stime: 25, cutime: 7, cstime: 3 });
});

parsing('/proc/stat: machine busy ticks leave out idle and iowait', () => {
  assert.is(parseMachineBusy('cpu  100 5 50 9000 300 1 2 3 0 0\ncpu0 50 2 25 4500 150 0 1 1 0 0\n'), 161);
  assert.throws(() => parseMachineBusy('intr 1 2 3\n'), /cpu line/);
});

parsing.run();

// ---------------------------------------------------------------------------------------------------------------
const stats = suite('bench: medians, spreads and ratios');

const run = (variant: string, workload: 'connect' | 'persistent', target: 'direct' | 'pooled', rep: number, tps: number, cpu?: Run['cpu']): Run => ({
  variant,
  workload,
  target,
  rep,
  startedAt: '2026-01-01T00:00:00Z',
  load: [1, 1],
  tps,
  transactions: tps * 10,
  failed: 0,
  latencyMs: 1,
  ...(cpu ? { cpu } : {}),
});

stats('median of odd and even counts; spread keeps the values', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]));
  assert.equal(spread([5, 1, 3]), { median: 3, min: 1, max: 5, values: [5, 1, 3] });
});

stats('ratio of medians, per-rep paired ratios, target met or missed', () => {
  const runs = [
    run('tls', 'connect', 'direct', 1, 100),
    run('tls', 'connect', 'pooled', 1, 1500),
    run('tls', 'connect', 'pooled', 2, 900),
    run('tls', 'connect', 'direct', 2, 100),
    run('tls', 'connect', 'direct', 3, 120),
    run('tls', 'connect', 'pooled', 3, 1200),
    run('tls', 'persistent', 'direct', 1, 1000),
    run('tls', 'persistent', 'pooled', 1, 790),
  ];
  const [connect, persistent] = summarize(runs);
  assert.is(connect!.direct.median, 100);
  assert.is(connect!.pooled.median, 1200);
  assert.is(connect!.ratio, 12);
  assert.equal(connect!.pairedRatios.values, [15, 9, 10]);
  assert.is(connect!.pairedRatios.min, 9);
  assert.ok(connect!.met);
  assert.is(persistent!.ratio, 0.79);
  assert.not.ok(persistent!.met, '0.79 misses 0.8');
});

stats('a workload with only one side measured gets no summary', () => {
  assert.equal(summarize([run('plain', 'connect', 'direct', 1, 100)]), []);
});

stats('CPU per transaction and the derived database-side ratio', () => {
  const [s] = summarize([
    run('tls', 'connect', 'direct', 1, 100, { client: 8, pooler: 0, server: 10 }),
    run('tls', 'connect', 'pooled', 1, 300, { client: 15, pooler: 1.5, server: 1.5 }),
  ]);
  // direct: 1000 transactions; pooled: 3000.
  assert.equal(s!.cpuMsPerTxn, { direct: { client: 8, pooler: 0, server: 10 }, pooled: { client: 5, pooler: 0.5, server: 0.5 } });
  assert.is(s!.dbCpuRatio, 10);
});

stats('repetitions alternate which side goes first', () => {
  assert.equal([1, 2, 3].map(order), [
    ['direct', 'pooled'],
    ['pooled', 'direct'],
    ['direct', 'pooled'],
  ]);
});

stats.run();

// ---------------------------------------------------------------------------------------------------------------
const rendered = suite('bench: what is taken from the rendered chart');
const objects = render({ set: { shards: 1 } }).objects;

rendered("the rw pool, the pooler pod's Secret files, the database pod's Secret env, TLS paths moved", () => {
  const s = renderedShard(objects, '/tmp/x/tls');
  assert.is(s.shard, 'db-pgfleet-shard-0');
  assert.match(s.ini, /^;; db-pgfleet-shard-0-pgbouncer-rw:/m);
  assert.equal(Object.keys(s.poolerSecrets).sort(), ['admin-password', 'pooler-password', 'stats-password']);
  assert.is(s.poolerSecrets['pooler-password'], s.env.PGFLEET_POOLER_PASSWORD, 'both pods read the same Secret key');
  for (const k of ['PATRONI_SUPERUSER_PASSWORD', 'PGFLEET_APP_PASSWORD', 'PGFLEET_ADMIN_PASSWORD', 'PGFLEET_APP_USER', 'PGFLEET_POOLER_USER'])
    assert.ok(s.env[k], k);
  assert.ok(s.tls?.['tls.key'].includes('PRIVATE KEY'));
  assert.is(s.postgres.parameters.ssl_cert_file, '/tmp/x/tls/tls.crt');
  assert.is(s.postgres.parameters.unix_socket_directories, undefined, "the socket directory is the local run's");
  assert.is(s.postgres.parameters.max_connections, 200);
  assert.ok(s.postgres.hba.includes('hostnossl all all all reject'));
  assert.equal([s.appUser, s.appDb, s.adminUser, s.statsUser], ['app', 'app', 'pgfleet_pooler_admin', 'pgfleet_pooler_stats']);
  assert.equal(iniServer(s.ini), { host: 'db-pgfleet-shard-0-primary', port: 5432 });
  assert.match(s.ini, /^application_name_add_host = 0$/m, 'off by default (a SET per transaction otherwise)');
});

rendered('patroni.yml initdb list becomes initdb flags; TLS paths need a directory', () => {
  const yml =
    'bootstrap:\n  initdb:\n  - encoding: UTF8\n  - data-checksums\n  dcs:\n    postgresql:\n      parameters:\n        max_connections: 100\npostgresql:\n  parameters:\n    max_connections: 50\n    ssl_key_file: /etc/pgfleet/tls/tls.key\n  pg_hba:\n  - local all all trust\n';
  const p = patroniPostgres(yml, '/t');
  assert.equal(p.initdbArgs, ['--encoding=UTF8', '--data-checksums']);
  assert.equal(p.parameters, { max_connections: 50, ssl_key_file: '/t/tls.key' });
  assert.equal(p.hba, ['local all all trust']);
  assert.throws(() => patroniPostgres(yml), /ssl_key_file/);
});

rendered('localIni rewrites only listen address, port, paths and the server; a missing key is an error', () => {
  const ini = renderedShard(objects, '/tmp/x/tls').ini;
  const out = localIni(ini, { listenPort: 7000, authFile: '/a/userlist.txt', caFile: '/a/ca.crt', server: { port: 6000 } });
  assert.match(out, /^listen_addr = 127\.0\.0\.1$/m);
  assert.match(out, /^listen_port = 7000$/m);
  assert.match(out, /^auth_file = \/a\/userlist\.txt$/m);
  assert.match(out, /^server_tls_ca_file = \/a\/ca\.crt$/m);
  assert.match(out, /^app = host=db-pgfleet-shard-0-primary port=6000 dbname=app$/m);
  const changed = out.split('\n').filter((l, i) => l !== ini.split('\n')[i]);
  assert.is(changed.length, 6, changed.join('\n'));
  assert.throws(() => localIni(ini.replace(/^auth_file = .*\n/m, ''), { listenPort: 1, authFile: '/x' }), /auth_file/);
});

rendered.run();

// ---------------------------------------------------------------------------------------------------------------
const report = suite('bench: the table and docs/benchmarks.md');

const sample = (load: number): Report => {
  const runs = [
    run('tls', 'connect', 'direct', 1, 50, { client: 0.4, pooler: 0, server: 0.5 }),
    run('tls', 'connect', 'pooled', 1, 600, { client: 3, pooler: 0.3, server: 0.3 }),
    run('tls', 'persistent', 'direct', 1, 10000),
    run('tls', 'persistent', 'pooled', 1, 7000),
  ];
  return {
    generatedAt: '2026-11-25T05:00:00.000Z',
    config: { ...DEFAULTS, variants: ['tls'], reps: 1 },
    environment: {
      cpus: 2,
      cpuModel: 'AMD EPYC',
      memoryGiB: 24,
      kernel: '6.1',
      os: 'Debian GNU/Linux 12 (bookworm)',
      postgres: 'postgres (PostgreSQL) 15.20',
      pgbench: 'pgbench (PostgreSQL) 15.20',
      pgbouncer: 'PgBouncer 1.18.0',
      openssl: 'OpenSSL 3.0',
      node: 'v20',
      chartVersion: '0.3.1',
      commit: 'abc1234',
    },
    load: { before: load, after: load, max: load + 3, otherShare: { median: 0.25, min: 0.1, max: 0.4 } },
    rewrites: { tls: ['listen_addr = 127.0.0.1'] },
    poolerSettings: { tls: { pool_mode: 'transaction' } },
    runs,
    summaries: summarize(runs),
  };
};

report('table rows: ratio with its per-rep range, target and verdict', () => {
  const s = sample(1).summaries;
  const table = markdownTable(s);
  assert.match(
    table,
    /\| TLS \| connection per transaction \(pgbench -S -C\) \| 50 \(50–50\) \| 600 \(600–600\) \| \*\*12\.0x\*\* \(12\.0–12\.0\) \| >= 10x \| yes \|/,
  );
  assert.match(
    table,
    /\| TLS \| persistent connections \(pgbench -S\) \| 10,000 \(10,000–10,000\) \| 7,000 \(7,000–7,000\) \| \*\*0\.70x\*\* \(0\.70–0\.70\) \| >= 0\.8x \| \*\*no\*\* \|/,
  );
  assert.match(consoleTable(s), /^TLS\s+persistent\s+10,000 \(10,000–10,000\)\s+7,000 \(7,000–7,000\)\s+0\.70x \(0\.70–0\.70\)\s+>= 0\.8x\s+NO$/m);
});

report('markdown: verdict, method, machine, load note, CPU table and the raw JSON that parses back', () => {
  const r = sample(5.5);
  const md = markdown(r);
  assert.match(md, /TLS, connect: \*\*12\.0x\*\* \(target >= 10x, met\); TLS, persistent: \*\*0\.70x\*\* \(target >= 0\.8x, missed\)/);
  assert.match(md, /## Method/);
  assert.match(md, /the 1-minute load average was 5\.5 when the bench started \(2 cores\)/);
  assert.match(md, /other work on the machine used a median 25% of its CPU \(10%–40% per run/);
  assert.match(md, /\| TLS \| connect \| 0\.800 \/ 0\.000 \/ 1\.000 \| 0\.500 \/ 0\.050 \/ 0\.050 \| 10\.0x \|/);
  assert.match(md, /2 x AMD EPYC, 24 GiB RAM/);
  const json = /```json\n([\s\S]*?)\n```/.exec(md)?.[1];
  assert.ok(json, 'a fenced JSON block');
  assert.equal(JSON.parse(json!), JSON.parse(JSON.stringify(r)));
  assert.match(
    markdown(sample(1)),
    /The 1-minute load average was 1 when the bench started \(2 cores\); during the runs it counts the bench's own processes too \(up to 4\)/,
  );
});

report.run();
