// Failover-following, for real: two PostgreSQL 15 servers (A = the old primary, B = the promoted one) bootstrapped by
// the rendered post-bootstrap.sh, a TCP forwarder standing in for the shard's -primary Service (existing flows keep
// their backend when it is retargeted, as with kube-proxy), and PgBouncer 1.18 running the rendered pgbouncer.ini with
// SCRAM auth_query. Without the callback, a pooled server connection stays on A after the Service moves; the rendered
// on-role-change.sh makes the very next transaction land on B. All processes listen on 127.0.0.1, run as the postgres
// user and are stopped by PID in `after`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { one, render } from '../../scripts/lib/helm.ts';

const PGBIN = '/usr/lib/postgresql/15/bin';
const asRoot = process.getuid?.() === 0;
const uid = asRoot ? Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim()) : process.getuid!();
const gid = asRoot ? Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim()) : process.getgid!();
const argvAs = (argv: string[]) => (asRoot ? ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', ...argv] : argv);
const runAs = (argv: string[], env: Record<string, string> = {}, input?: string) => {
  const a = argvAs(argv);
  return spawnSync(a[0]!, a.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, input, timeout: 60_000 });
};
const pgbouncerBin = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => spawnSync('test', ['-x', p]).status === 0);

const passwords = { PGFLEET_ADMIN_PASSWORD: 'admin-pw', PGFLEET_APP_PASSWORD: 'app-pw"x', PGFLEET_POOLER_PASSWORD: 'pooler-pw', PGFLEET_MONITOR_PASSWORD: 'monitor-pw' }; // as the pod's env (monitoring is on by default)
const rendered = render({ set: { shards: 1, replicas: 1, 'tls.enabled': false } }).objects;
const scripts = one(rendered, 'ConfigMap', 'db-pgfleet-scripts').data;
const poolCm = one(rendered, 'ConfigMap', 'db-pgfleet-shard-0-pgbouncer-rw').data;

type Pg = { name: string; port: number; dir: string; proc?: ChildProcess };
const st: { dir: string; pgs: Pg[]; bouncer?: ChildProcess; bouncerPort: number; proxy?: Server; proxyPort: number; target: number; log: string; flows: Socket[] } = {
  dir: '', pgs: [], bouncerPort: 0, proxyPort: 0, target: 0, log: '', flows: [],
};

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => boolean, ms = 20_000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) if (check()) return;
  throw new Error(`timed out waiting for ${what}\n${st.log}`);
}

/** Runs a command without blocking the event loop (the forwarder below lives in this process). */
function run(argv: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

/** One transaction through PgBouncer as the application role: which server answered? */
async function whichServer(): Promise<string> {
  const r = await run(['psql', '-X', '-A', '-t', `host=127.0.0.1 port=${st.bouncerPort} dbname=app user=app connect_timeout=5`, '-c', "SELECT current_setting('port')"],
    { PGPASSWORD: passwords.PGFLEET_APP_PASSWORD });
  if (r.status !== 0) throw new Error(`query through PgBouncer failed: ${r.stderr}\n${st.log}`);
  const port = Number(r.stdout.trim());
  return st.pgs.find((p) => p.port === port)?.name ?? `port ${port}`;
}

const failover = suite('pooler failover: on-role-change.sh moves PgBouncer off a demoted primary');

failover.before(async () => {
  st.dir = mkdtempSync(join(tmpdir(), 'pgfleet-failover-'));
  chownSync(st.dir, uid, gid);
  for (const name of ['A', 'B']) {
    const pg: Pg = { name, port: await freePort(), dir: join(st.dir, name) };
    const init = runAs([join(PGBIN, 'initdb'), '-D', pg.dir, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C']);
    if (init.status !== 0) throw new Error(`initdb ${name}: ${init.stderr}`);
    const argv = argvAs([join(PGBIN, 'postgres'), '-D', pg.dir, '-p', String(pg.port), '-k', st.dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off']);
    pg.proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    pg.proc.stderr!.on('data', (d) => (st.log += `[${name}] ${d}`));
    st.pgs.push(pg);
  }
  writeFileSync(join(st.dir, 'post-bootstrap.sh'), scripts['post-bootstrap.sh']);
  for (const pg of st.pgs) {
    await waitFor(`PostgreSQL ${pg.name}`, () => runAs(['psql', '-X', '-h', st.dir, '-p', String(pg.port), '-U', 'postgres', '-c', 'SELECT 1']).status === 0);
    const boot = runAs(['sh', join(st.dir, 'post-bootstrap.sh'), `host=${st.dir} port=${pg.port} user=postgres dbname=postgres`], passwords);
    if (boot.status !== 0) throw new Error(`post-bootstrap.sh on ${pg.name}: ${boot.stderr}`);
  }
  // B is "a replica of A": same SCRAM secrets (physical replication copies pg_authid).
  const secret = (role: string) => runAs(['psql', '-X', '-A', '-t', '-h', st.dir, '-p', String(st.pgs[0]!.port), '-U', 'postgres', '-c', `SELECT rolpassword FROM pg_authid WHERE rolname = '${role}'`]).stdout.trim();
  for (const role of ['app', 'pgfleet_pooler']) {
    const r = runAs(['psql', '-X', '-h', st.dir, '-p', String(st.pgs[1]!.port), '-U', 'postgres', '-c', `ALTER ROLE ${role} PASSWORD '${secret(role)}'`]);
    if (r.status !== 0) throw new Error(r.stderr);
  }

  // The -primary Service: new flows go to the current target, existing flows keep theirs.
  st.target = st.pgs[0]!.port;
  st.proxyPort = await freePort();
  st.proxy = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: st.target });
    st.flows.push(client, upstream);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  }).listen(st.proxyPort, '127.0.0.1');

  // PgBouncer with the rendered config: only listen address, paths and the Service address differ.
  st.bouncerPort = await freePort();
  const ini = (poolCm['pgbouncer.ini'] as string)
    .replace(/^listen_addr = .*$/m, 'listen_addr = 127.0.0.1')
    .replace(/^listen_port = .*$/m, `listen_port = ${st.bouncerPort}`)
    .replace(/^auth_file = .*$/m, `auth_file = ${join(st.dir, 'userlist.txt')}`)
    .replace(/host=db-pgfleet-shard-0-primary port=5432/g, `host=127.0.0.1 port=${st.proxyPort}`);
  writeFileSync(join(st.dir, 'pgbouncer.ini'), ini, { mode: 0o644 });
  const secretsDir = join(st.dir, 'secrets');
  mkdirSync(secretsDir);
  writeFileSync(join(secretsDir, 'pooler-password'), passwords.PGFLEET_POOLER_PASSWORD, { mode: 0o644 });
  writeFileSync(join(secretsDir, 'admin-password'), 'bouncer-admin', { mode: 0o644 });
  writeFileSync(join(secretsDir, 'stats-password'), 'bouncer-stats', { mode: 0o644 });
  writeFileSync(join(st.dir, 'make-userlist.sh'), poolCm['make-userlist.sh']);
  const mk = runAs(['sh', join(st.dir, 'make-userlist.sh')], { PGFLEET_SECRETS_DIR: secretsDir, PGFLEET_USERLIST: join(st.dir, 'userlist.txt') });
  if (mk.status !== 0) throw new Error(mk.stderr);
  const argv = argvAs([pgbouncerBin!, join(st.dir, 'pgbouncer.ini')]);
  st.bouncer = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  st.bouncer.stderr!.on('data', (d) => (st.log += `[pgbouncer] ${d}`));
  st.bouncer.stdout!.on('data', (d) => (st.log += `[pgbouncer] ${d}`));
  await waitFor('PgBouncer', () => spawnSync('psql', ['-X', `host=127.0.0.1 port=${st.bouncerPort} dbname=pgbouncer user=pgfleet_pooler_admin`, '-c', 'SHOW VERSION'], {
    env: { ...process.env, PGPASSWORD: 'bouncer-admin' }, encoding: 'utf8',
  }).status === 0);
});

failover.after(async () => {
  if (st.bouncer?.pid && st.bouncer.exitCode === null) process.kill(st.bouncer.pid, 'SIGTERM');
  for (const s of st.flows) s.destroy();
  await new Promise<void>((r) => (st.proxy ? st.proxy.close(() => r()) : r()));
  for (const pg of st.pgs) if (pg.proc?.pid && pg.proc.exitCode === null) process.kill(pg.proc.pid, 'SIGINT');
  await Promise.all(st.pgs.map((pg) => (pg.proc && pg.proc.exitCode === null ? new Promise((r) => pg.proc!.once('exit', r)) : null)));
  if (st.dir) rmSync(st.dir, { recursive: true, force: true });
});

failover('the tools are installed (npm run setup:local)', () => {
  assert.ok(pgbouncerBin, 'pgbouncer');
  assert.ok(spawnSync('test', ['-x', join(PGBIN, 'postgres')]).status === 0, 'postgresql-15');
});

failover('SCRAM through auth_query and pgfleet.user_lookup: the app role logs in via PgBouncer, served by A', async () => {
  assert.is(await whichServer(), 'A');
});

failover('after the Service moves, the pooled server connection stays pinned to A (the bug class)', async () => {
  st.target = st.pgs[1]!.port; // Patroni promoted B; the -primary Service now selects it
  for (let i = 0; i < 3; i++) assert.is(await whichServer(), 'A', 'still the old primary: nothing told PgBouncer');
});

failover('on-role-change.sh (as Patroni runs it) sends RECONNECT; the next transaction is served by B', async () => {
  writeFileSync(join(st.dir, 'on-role-change.sh'), scripts['on-role-change.sh']);
  const started = Date.now();
  const r = await run(['sh', join(st.dir, 'on-role-change.sh'), 'on_role_change', 'primary', 'db-pgfleet-shard-0'], {
    PGFLEET_POOLER_HOSTS: '127.0.0.1', PGFLEET_POOLER_ADMIN_DB: 'pgbouncer', PGFLEET_POOLER_ADMIN_USER: 'pgfleet_pooler_admin',
    PGFLEET_POOLER_ADMIN_PASSWORD: 'bouncer-admin', PGFLEET_POOLER_PORT: String(st.bouncerPort), PGFLEET_POOLER_REPEAT_AFTER: '0',
  });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /RECONNECT sent to 1 pooler pod\(s\), 0 failed/);
  assert.ok(Date.now() - started < 5000, 'well within one Patroni loop');
  for (let i = 0; i < 3; i++) assert.is(await whichServer(), 'B');
});

failover.run();
