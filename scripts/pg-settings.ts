// `npm run generate:pg-settings`: the table of PostgreSQL 15's settings (schema/pg15-settings.json) that the values
// schema checks `postgresql.parameters` against, read from pg_settings of a real server (Debian's postgresql-15,
// started here for the purpose on a Unix socket, stopped by its PID). `--check` compares instead of writing: the
// runtime tests run it, so the committed table cannot drift from the server the images ship.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverDir, startPostgres } from './lib/localpg.ts';
import { PG_SETTINGS_FILE, type PgSetting } from '../schema/pg-settings.ts';

/** Every setting a configuration file may set: `internal` ones (block_size, server_version...) are read-only. */
const QUERY = `SELECT coalesce(json_agg(json_build_object('name', name, 'vartype', vartype, 'unit', unit, 'min', min_val, 'max', max_val,
  'enumvals', enumvals, 'context', context) ORDER BY name), '[]') FROM pg_settings WHERE context <> 'internal'`;

export async function readPgSettings(): Promise<PgSetting[]> {
  const dir = serverDir(mkdtempSync(join(tmpdir(), 'pgfleet-settings-')));
  const pg = await startPostgres({ dir, parameters: { fsync: 'off' } });
  try {
    const r = pg.psql(QUERY);
    if (r.status !== 0) throw new Error(`pg_settings: ${r.stderr}`);
    return (JSON.parse(r.stdout) as PgSetting[]).map((s) => Object.fromEntries(Object.entries(s).filter(([, v]) => v !== null)) as PgSetting);
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const formatTable = (settings: PgSetting[]) => `${JSON.stringify({ postgresql: 15, settings }, null, 1)}\n`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = formatTable(await readPgSettings());
  if (process.argv.includes('--check')) {
    if (readFileSync(PG_SETTINGS_FILE, 'utf8') !== text) {
      console.error(`${PG_SETTINGS_FILE} differs from pg_settings of this PostgreSQL 15: run npm run generate:pg-settings`);
      process.exit(1);
    }
    console.log(`${PG_SETTINGS_FILE} matches pg_settings`);
  } else {
    writeFileSync(PG_SETTINGS_FILE, text);
    console.log(`wrote ${PG_SETTINGS_FILE}`);
  }
}
