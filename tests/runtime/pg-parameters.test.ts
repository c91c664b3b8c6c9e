// postgresql.parameters as PostgreSQL 15 and Patroni take them. The committed table the schema checks names and
// values against (schema/pg15-settings.json) equals pg_settings of this machine's PostgreSQL 15; and for every
// install scenario (ci/ and examples/), each parameter the rendered Patroni configuration carries passes Patroni's
// own validator (none dropped), is written to postgresql.conf as Patroni writes it, and PostgreSQL reads it back
// with the same value (`postgres -C`, which exits on an invalid one). Processes run as the postgres user.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { find, render } from '../../scripts/lib/helm.ts';
import { PGBIN, serverDir, serverFile } from '../../scripts/lib/localpg.ts';
import { PATRONI_BIN } from '../../scripts/lib/local/packages.ts';
import { formatTable, readPgSettings } from '../../scripts/pg-settings.ts';
import { PG_SETTINGS_FILE, pgSettings, type PgSetting } from '../../schema/pg-settings.ts';
import { root } from '../../scripts/lib/tools.ts';
import { scenarioFiles } from '../lib/values.ts';
import { runAs } from '../../scripts/lib/proc.ts';

const settings = new Map(pgSettings().map((s) => [s.name, s]));
const st = { dir: '' };
const params = suite('postgresql.parameters against PostgreSQL 15 and Patroni');

params.before(() => {
  st.dir = serverDir(mkdtempSync(join(tmpdir(), 'pgfleet-params-')));
  const init = runAs(
    [join(PGBIN, 'initdb'), '-D', join(st.dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C'],
    {},
    { timeoutMs: 120_000 },
  );
  if (init.status !== 0) throw new Error(`initdb: ${init.stderr}`);
});
params.after(() => {
  if (st.dir) rmSync(st.dir, { recursive: true, force: true });
});

params('schema/pg15-settings.json is pg_settings of this PostgreSQL 15 (npm run generate:pg-settings)', async () => {
  assert.fixture(formatTable(await readPgSettings()), readFileSync(PG_SETTINGS_FILE, 'utf8'));
});

/** A value as PostgreSQL compares it: memory in bytes, time in microseconds, booleans as on/off, the rest lower-case. */
function normal(s: PgSetting, value: unknown): string {
  const text = String(value).trim();
  if (s.vartype === 'bool') return ['on', 'true', 'yes', '1'].includes(text.toLowerCase()) ? 'on' : 'off';
  if (s.vartype !== 'integer' && s.vartype !== 'real') return text.toLowerCase();
  const m = /^(-?[0-9.eE+-]+?)\s*([a-zA-Z]*)$/.exec(text);
  if (!m) return text;
  const scale: Record<string, number> = {
    B: 1,
    kB: 1024,
    '8kB': 8192,
    MB: 2 ** 20,
    '16MB': 2 ** 24,
    GB: 2 ** 30,
    TB: 2 ** 40,
    us: 1,
    ms: 1e3,
    s: 1e6,
    min: 6e7,
    h: 3.6e9,
    d: 8.64e10,
  };
  const n = Number(m[1]);
  if (n === -1 || !(s.unit ?? '')) return String(n);
  return String(n * (scale[m[2] || s.unit!] ?? NaN));
}

params("every scenario: each parameter passes Patroni's validator and PostgreSQL reads back the value it was given", () => {
  const conf = join(st.dir, 'data', 'pgfleet.conf');
  appendFileSync(join(st.dir, 'data', 'postgresql.conf'), "\ninclude 'pgfleet.conf'\n");
  const checked = new Set<string>();
  for (const file of scenarioFiles()) {
    const objects = render({ values: [file] }).objects;
    const patroni = parse(find(objects, 'ConfigMap').find((c) => c.metadata.name.endsWith('-shard-0-patroni'))!.data['patroni.yml']);
    // Patroni writes the DCS parameters overlaid with the member's own; server-side paths (TLS files, sockets) are this pod's
    const given: Record<string, unknown> = { ...patroni.bootstrap.dcs.postgresql.parameters, ...patroni.postgresql.parameters };
    for (const k of ['ssl', 'ssl_cert_file', 'ssl_key_file', 'ssl_ca_file', 'unix_socket_directories']) delete given[k];
    const r = spawnSync(join(PATRONI_BIN(), 'python'), [join(root, 'tests', 'lib', 'patroni_params.py')], {
      input: JSON.stringify({ version: 150000, gucs: [...settings.keys()], parameters: given }),
      encoding: 'utf8',
    });
    assert.is(r.status, 0, r.stderr);
    const { kept, dropped } = JSON.parse(r.stdout) as { kept: Record<string, unknown>; dropped: string[] };
    assert.equal(dropped, [], `${basename(file)}: Patroni would drop ${dropped.join(', ')}`);
    const key = JSON.stringify(kept);
    if (checked.has(key)) continue;
    checked.add(key);
    // as Patroni's ConfigWriter writes a parameter: single-quoted, quotes and backslashes doubled
    serverFile(
      conf,
      Object.entries(kept)
        .map(([k, v]) => `${k} = '${String(v).replace(/(['\\])/g, '$1$1')}'`)
        .join('\n') + '\n',
      0o644,
    );
    for (const [name, value] of Object.entries(kept)) {
      const s = settings.get(name);
      if (!s) continue; // an extension's setting: PostgreSQL keeps it as a placeholder
      const got = runAs([join(PGBIN, 'postgres'), '-D', join(st.dir, 'data'), '-C', name], {}, { timeoutMs: 30_000 });
      assert.is(got.status, 0, `${basename(file)}: PostgreSQL refused the configuration (${name} = ${value}): ${got.stderr}`);
      assert.is(normal(s, got.stdout), normal(s, value), `${basename(file)}: ${name} = ${JSON.stringify(value)} reads back as ${got.stdout.trim()}`);
    }
  }
  console.log(`  ${scenarioFiles().length} scenarios, ${checked.size} distinct parameter sets read back by PostgreSQL 15`);
});
params('values written as text are bounded as PostgreSQL bounds them: the chart refuses exactly what postgres refuses', () => {
  const cases: [string, string][] = [
    ['work_mem', '64kB'],
    ['work_mem', '63kB'],
    ['work_mem', '1.5GB'],
    ['work_mem', '2TB'],
    ['checkpoint_timeout', '30s'],
    ['checkpoint_timeout', '29s'],
    ['checkpoint_timeout', '0.5min'],
    ['checkpoint_timeout', '1d'],
    ['checkpoint_timeout', '2d'],
    ['max_wal_size', '2MB'],
    ['max_wal_size', '1MB'],
    ['max_wal_size', '1.5MB'],
    ['shared_buffers', '128kB'],
    ['shared_buffers', '120kB'],
    ['vacuum_cost_delay', '100ms'],
    ['vacuum_cost_delay', '101ms'],
    ['vacuum_cost_delay', '0.5ms'],
    ['vacuum_cost_delay', '1s'],
    ['statement_timeout', '2147483647'],
    ['statement_timeout', '2147483648'],
    ['autovacuum_naptime', '1s'],
    ['autovacuum_naptime', '999ms'],
  ];
  const file = join(st.dir, 'text-values.json');
  const verdicts = cases.map(([name, value]) => {
    writeFileSync(file, JSON.stringify({ postgresql: { parameters: { [name]: value } } }));
    let chart = '';
    try {
      render({ values: [file] });
    } catch (e) {
      chart = (e as Error).message;
    }
    const pg = runAs([join(PGBIN, 'postgres'), '-D', join(st.dir, 'data'), '-C', name, '-c', `${name}=${value}`], {}, { timeoutMs: 30_000 });
    const chartRefuses = chart.includes(`postgresql.parameters.${name}`);
    assert.is(
      chartRefuses,
      pg.status !== 0,
      `${name} = '${value}': PostgreSQL ${pg.status === 0 ? `reads ${pg.stdout.trim()}` : `refuses it (${pg.stderr.trim()})`}, the chart ${chartRefuses ? `refuses it: ${chart}` : 'accepts it'}`,
    );
    return chartRefuses;
  });
  assert.ok(verdicts.includes(true) && verdicts.includes(false), 'the cases must include values on both sides of the bounds');
});
params.run();
