// The monitoring wiring the chart renders, run for real: PostgreSQL (Debian's postgresql-15) with the chart's
// post-bootstrap script, then postgres_exporter (Debian's prometheus-postgres-exporter) with the sidecar's own
// environment, reaching PostgreSQL through a Unix socket as the monitoring role, password from a file. Proves the
// DSN form, the role's least privilege and that the metrics the alerts need are served. Skipped with a message
// naming `npm run setup:local` when the binaries are missing. Processes are stopped by PID in `after`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { one, render } from '../../scripts/lib/helm.ts';
import { chartEnv, dbContainer } from '../../scripts/lib/contract.ts';
import { freePort, sleep } from '../../scripts/lib/proc.ts';

const pgBin = ['17', '16', '15'].map((v) => `/usr/lib/postgresql/${v}/bin`).find((d) => existsSync(join(d, 'initdb')));
const exporterBin = ['prometheus-postgres-exporter', 'postgres_exporter']
  .map((b) => spawnSync('sh', ['-c', `command -v ${b}`], { encoding: 'utf8' }).stdout.trim())
  .find(Boolean);
const root = process.getuid?.() === 0;
type Ids = { uid?: number; gid?: number };
const idOf = (user: string): Ids | undefined => {
  const r = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  return r.status === 0 ? { uid: Number(r.stdout), gid: Number(g.stdout) } : undefined;
};
// PostgreSQL refuses root: as root, run it as "postgres" and the exporter as "nobody" (like the chart: uid 65534).
const pgUser: Ids | undefined = root ? idOf('postgres') : {};
const exporterUser: Ids | undefined = root ? idOf('nobody') : {};
const missing = !pgBin
  ? 'PostgreSQL server binaries (postgresql-15)'
  : !exporterBin
    ? 'postgres_exporter (prometheus-postgres-exporter)'
    : !pgUser || !exporterUser
      ? 'the postgres and nobody users'
      : '';

const PASSWORDS = { superuser: 'su-secret', admin: 'adm-secret', app: 'app-secret', pooler: 'pool-secret', monitor: 'mon-secret' };

const t = suite('postgres_exporter against a real PostgreSQL, wired as the chart renders it');
let dir = '';
let sock = '';
let metricsPort = 0;
let pg: ChildProcess | undefined;
let exporter: ChildProcess | undefined;
let exporterLog = '';
const procs: ChildProcess[] = [];

function runAs(user: Ids | undefined, cmd: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(cmd, args, {
    encoding: 'utf8',
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...env },
    ...(user ?? {}),
    timeout: 60_000,
  });
}
function psqlAs(user: string, password: string, sql: string) {
  return runAs(pgUser, 'psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', `postgresql://${user}@/postgres?host=${sock}`, '-c', sql], { PGPASSWORD: password });
}
async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  return res.text();
}

t.before(async () => {
  if (missing) return;
  dir = mkdtempSync(join(tmpdir(), 'pgfleet-exporter-'));
  sock = join(dir, 'sock');
  spawnSync('mkdir', ['-p', sock]);
  if (root) {
    for (const p of [dir, sock]) chownSync(p, pgUser!.uid!, pgUser!.gid!);
    chmodSync(dir, 0o755);
    chmodSync(sock, 0o777);
  }
  writeFileSync(join(dir, 'pw'), PASSWORDS.superuser);
  if (root) chownSync(join(dir, 'pw'), pgUser!.uid!, pgUser!.gid!);
  const init = runAs(pgUser, join(pgBin!, 'initdb'), [
    '-D',
    join(dir, 'data'),
    '-U',
    'postgres',
    '--auth-local=scram-sha-256',
    '--auth-host=scram-sha-256',
    `--pwfile=${join(dir, 'pw')}`,
  ]);
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  pg = spawn(join(pgBin!, 'postgres'), ['-D', join(dir, 'data'), '-c', `unix_socket_directories=${sock}`, '-c', 'listen_addresses=', '-c', 'port=5432'], {
    cwd: dir,
    stdio: 'ignore',
    ...(pgUser ?? {}),
  });
  procs.push(pg);
  for (let i = 0; i < 100; i++) {
    if (psqlAs('postgres', PASSWORDS.superuser, 'SELECT 1').status === 0) break;
    await sleep(200);
  }
});

t.after(async () => {
  // Stop what this suite started, by PID, even after a failed assertion.
  for (const p of procs.reverse()) {
    if (p.exitCode === null && p.pid) {
      p.kill(p === pg ? 'SIGINT' : 'SIGTERM');
      for (let i = 0; i < 50 && p.exitCode === null; i++) await sleep(100);
      if (p.exitCode === null) p.kill('SIGKILL');
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// The runtime tier runs only with its prerequisites (tests/lib/prereq.ts): a missing one here is a failure.
t('prerequisites: PostgreSQL 15, postgres_exporter and the postgres and nobody users (npm run setup:local)', () => {
  assert.is(missing, '', `${missing} not installed: run \`npm run setup:local\``);
});
if (!missing) {
  t('the rendered post-bootstrap script creates the monitoring role, twice without error', () => {
    const { objects } = render({ set: { 'auth.monitorUser': 'pgfleet_monitor' } });
    const script = one(objects, 'ConfigMap', 'db-pgfleet-scripts').data['post-bootstrap.sh'] as string;
    writeFileSync(join(dir, 'post-bootstrap.sh'), script, { mode: 0o755 });
    const env = {
      ...chartEnv(dbContainer(objects)),
      PGPASSWORD: PASSWORDS.superuser,
      PGFLEET_ADMIN_PASSWORD: PASSWORDS.admin,
      PGFLEET_APP_PASSWORD: PASSWORDS.app,
      PGFLEET_POOLER_PASSWORD: PASSWORDS.pooler,
      PGFLEET_MONITOR_PASSWORD: PASSWORDS.monitor,
    };
    for (let i = 0; i < 2; i++) {
      const r = runAs(pgUser, join(dir, 'post-bootstrap.sh'), [`postgresql://postgres@/postgres?host=${sock}`], env);
      assert.is(r.status, 0, r.stderr);
    }
  });
  t("user_lookup (the poolers' auth_query) returns application roles only: never superusers or the chart's service roles", () => {
    const lookup = (name: string) => psqlAs('pgfleet_pooler', PASSWORDS.pooler, `SELECT coalesce(phash, 'none') FROM pgfleet.user_lookup('${name}')`);
    const app = lookup('app');
    assert.is(app.status, 0, app.stderr);
    assert.match(app.stdout, /^SCRAM-SHA-256\$/);
    for (const hidden of ['postgres', 'replicator', 'pgfleet_monitor', 'pgfleet_pooler']) assert.is(lookup(hidden).stdout.trim(), 'none', hidden);
  });
  t('the monitoring role: logs in with its password, is in pg_monitor, can do nothing else', () => {
    const who = psqlAs(
      'pgfleet_monitor',
      PASSWORDS.monitor,
      "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, pg_has_role(current_user, 'pg_monitor', 'member') FROM pg_roles WHERE rolname = current_user",
    );
    assert.is(who.status, 0, who.stderr);
    assert.is(who.stdout.trim(), 'f|f|f|f|f|t');
    assert.is.not(psqlAs('pgfleet_monitor', 'wrong', 'SELECT 1').status, 0, 'a wrong password must be refused');
    for (const sql of ['SELECT count(*) FROM pg_authid', 'CREATE DATABASE x', 'CREATE TABLE public.x (i int)', 'SELECT pgfleet.user_lookup($$app$$)']) {
      const r = psqlAs('pgfleet_monitor', PASSWORDS.monitor, sql);
      assert.is.not(r.status, 0, `the monitoring role could run: ${sql}`);
    }
  });
  t("the exporter, with the sidecar's env and args, serves pg_up 1 and the metrics the alerts use", async () => {
    const { objects } = render();
    const c = one(objects, 'StatefulSet', 'db-pgfleet-shard-0').spec.template.spec.containers.find((x: any) => x.name === 'postgres-exporter');
    const env: Record<string, string> = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
    const patroni = parse(one(objects, 'ConfigMap', 'db-pgfleet-shard-0-patroni').data['patroni.yml']);
    const socketDir: string = patroni.postgresql.parameters.unix_socket_directories;
    // Same values, only the pod paths moved into this test's directory.
    env.DATA_SOURCE_URI = env.DATA_SOURCE_URI!.replace(`host=${socketDir}`, `host=${sock}`);
    assert.match(env.DATA_SOURCE_URI, `host=${sock}`);
    const passFile = join(dir, 'monitor-password');
    writeFileSync(passFile, PASSWORDS.monitor, { mode: 0o400 });
    if (root) chownSync(passFile, exporterUser!.uid!, exporterUser!.gid!);
    env.DATA_SOURCE_PASS_FILE = passFile;
    metricsPort = await freePort();
    const args = (c.args as string[]).map((a) => (a.startsWith('--web.listen-address=') ? `--web.listen-address=127.0.0.1:${metricsPort}` : a));
    exporter = spawn(exporterBin!, args, {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(exporterUser ?? {}),
    });
    procs.push(exporter);
    exporter.stdout!.on('data', (d) => {
      exporterLog += d;
    });
    exporter.stderr!.on('data', (d) => {
      exporterLog += d;
    });
    let text = '';
    for (let i = 0; i < 60; i++) {
      try {
        text = await scrape();
        if (/^pg_up(\{[^}]*\})? 1$/m.test(text)) break;
      } catch {
        /* not listening yet */
      }
      await sleep(250);
    }
    assert.match(text, /^pg_up(\{[^}]*\})? 1$/m, `pg_up is not 1; exporter log:\n${exporterLog}`);
    for (const m of [
      'pg_stat_archiver_failed_count',
      'pg_stat_archiver_last_archive_age',
      'pg_settings_max_connections',
      'pg_stat_activity_count',
      'pg_stat_database_xact_commit',
      'pg_database_size_bytes',
    ]) {
      assert.match(text, new RegExp(`^${m}[{ ]`, 'm'), `${m} is not served`);
    }
    assert.not.match(exporterLog, /permission denied|password authentication failed/i, exporterLog);
  });
}
t.run();
