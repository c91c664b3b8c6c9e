// The pooler scripts and configuration the chart renders, run for real on this machine: PgBouncer 1.18 (Debian)
// loads the rendered pgbouncer.ini and the auth_file written by the rendered make-userlist.sh, accepts the admin
// and stats roles, and the rendered on-role-change.sh sends RECONNECT to it. PgDog's render-config.sh fills its
// placeholders. Everything listens on 127.0.0.1 and is stopped by PID in `after`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseToml } from 'smol-toml';
import { one, render } from '../../scripts/lib/helm.ts';
import { localIni, pgbouncerBin, serverFile, startPgBouncer, type LocalPgBouncer } from '../../scripts/lib/localpg.ts';
import { asPostgres, freePort } from '../../scripts/lib/proc.ts';

const R = 'db';
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function sh(script: string, args: string[], env: Record<string, string>, timeoutMs = 20_000) {
  return spawnSync('sh', [script, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: timeoutMs });
}

// Passwords with the characters the quoting rules exist for.
const secrets = {
  'pooler-password': 'pool"er\\pw',
  'admin-password': 'adm"in $pw\'x',
  'stats-password': 'stats@pw',
  'app-password': 'a"p\\p@secret:x@',
  'pooler-admin-password': 'pgdog"admin',
};

const runtime = suite('pooler runtime: PgBouncer 1.18 runs the rendered config and scripts');
const ctx: { dir: string; port: number; bouncer?: LocalPgBouncer } = { dir: '', port: 0 };
const rendered = render({ namespace: 'ns1', set: { shards: 1, replicas: 1 } }).objects;
const cm = one(rendered, 'ConfigMap', `${R}-pgfleet-shard-0-pgbouncer-rw`);
const callback = one(rendered, 'ConfigMap', `${R}-pgfleet-scripts`).data['on-role-change.sh'] as string;

function psql(user: string, password: string, sql: string) {
  return spawnSync('psql', ['-X', '-A', '-t', '-F', '|', `host=127.0.0.1 port=${ctx.port} dbname=pgbouncer user=${user} connect_timeout=3`, '-c', sql], {
    encoding: 'utf8',
    env: { ...process.env, PGPASSWORD: password },
    timeout: 10_000,
  });
}

runtime.before(async () => {
  if (!pgbouncerBin || !has('psql') || !has('getent')) return;
  ctx.dir = mkdtempSync(join(tmpdir(), 'pgfleet-pooler-'));
  // The rendered pgbouncer.ini and make-userlist.sh; the cluster CA from the rendered TLS Secret, so
  // server_tls_ca_file is the real thing. Only paths and the listen address change for a local run.
  // The chart's default: clients reach PgBouncer over TLS with the release certificate (client_tls_sslmode = require).
  const tls = one(rendered, 'Secret', `${R}-pgfleet-tls`).data;
  const pem = (k: string) => Buffer.from(tls[k], 'base64');
  ctx.bouncer = await startPgBouncer({
    dir: ctx.dir,
    ini: cm.data['pgbouncer.ini'],
    makeUserlist: cm.data['make-userlist.sh'],
    secrets,
    caCert: pem('ca.crt'),
    clientTls: { cert: pem('tls.crt'), key: pem('tls.key') },
    ready: { user: 'pgfleet_pooler_stats', password: secrets['stats-password'] },
  }).catch((err) => {
    console.error(`PgBouncer did not start: ${err.message}`);
    throw err;
  });
  ctx.port = ctx.bouncer.port;
  writeFileSync(join(ctx.dir, 'on-role-change.sh'), callback);
});

runtime.after(async () => {
  await ctx.bouncer?.stop();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

runtime('the tools the test needs are installed (npm run setup:local)', () => {
  assert.ok(pgbouncerBin, 'pgbouncer is installed');
  assert.ok(has('psql') && has('getent'), 'psql and getent are installed');
});

runtime('make-userlist.sh writes three auth_file entries with doubled quotes, mode 0600', () => {
  const text = readFileSync(ctx.bouncer!.userlist, 'utf8');
  assert.is(text, ['"pgfleet_pooler" "pool""er\\pw"', '"pgfleet_pooler_admin" "adm""in $pw\'x"', '"pgfleet_pooler_stats" "stats@pw"', ''].join('\n'));
  const mode = spawnSync('stat', ['-c', '%a', ctx.bouncer!.userlist], { encoding: 'utf8' }).stdout.trim();
  assert.is(mode, '600');
});

runtime('PgBouncer 1.18 loaded the rendered settings (SHOW CONFIG)', () => {
  const r = psql('pgfleet_pooler_admin', secrets['admin-password'], 'SHOW CONFIG');
  assert.is(r.status, 0, r.stderr);
  const config = Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('|').slice(0, 2)),
  );
  const expected: Record<string, string> = {
    pool_mode: 'transaction',
    auth_type: 'scram-sha-256',
    auth_user: 'pgfleet_pooler',
    max_client_conn: '1000',
    default_pool_size: '20',
    reserve_pool_size: '5',
    server_lifetime: '600',
    server_idle_timeout: '300',
    server_login_retry: '0.25',
    admin_users: 'pgfleet_pooler_admin',
    stats_users: 'pgfleet_pooler_stats',
    server_tls_sslmode: 'verify-full',
    ignore_startup_parameters: 'extra_float_digits',
    auth_query: 'SELECT uname, phash FROM pgfleet.user_lookup($1)',
  };
  for (const [k, v] of Object.entries(expected)) assert.is(config[k], v, k);
});

runtime("client TLS by default: plaintext clients are refused, clients verifying the certificate against the pool's Service name get in", () => {
  const as = (conn: string) =>
    spawnSync('psql', ['-X', '-A', '-t', `${conn} port=${ctx.port} dbname=pgbouncer user=pgfleet_pooler_stats connect_timeout=3`, '-c', 'SHOW VERSION'], {
      encoding: 'utf8',
      env: { ...process.env, PGPASSWORD: secrets['stats-password'] },
      timeout: 10_000,
    });
  const ca = join(ctx.dir, 'ca.crt');
  const plain = as('host=127.0.0.1 sslmode=disable');
  assert.is.not(plain.status, 0, 'plaintext refused');
  assert.match(plain.stderr, /SSL required/);
  const verified = as(`host=${R}-pgfleet-shard-0-pgbouncer-rw.ns1.svc.cluster.local hostaddr=127.0.0.1 sslmode=verify-full sslrootcert=${ca}`);
  assert.is(verified.status, 0, verified.stderr);
  const wrongName = as(`host=somewhere-else hostaddr=127.0.0.1 sslmode=verify-full sslrootcert=${ca}`);
  assert.is.not(wrongName.status, 0, 'a name outside the certificate is refused by the client');
});

runtime('SCRAM against the auth_file: wrong password refused; the stats role may not RECONNECT', () => {
  assert.is.not(psql('pgfleet_pooler_admin', 'wrong', 'SHOW POOLS').status, 0);
  const stats = psql('pgfleet_pooler_stats', secrets['stats-password'], 'RECONNECT');
  assert.is.not(stats.status, 0, 'RECONNECT is an admin command');
  assert.match(stats.stderr, /admin/i);
});

const runCallback = (env: Record<string, string>) =>
  sh(join(ctx.dir, 'on-role-change.sh'), ['on_role_change', 'primary', `${R}-pgfleet-shard-0`], {
    PGFLEET_POOLER_HOSTS: '127.0.0.1',
    PGFLEET_POOLER_ADMIN_DB: 'pgbouncer',
    PGFLEET_POOLER_ADMIN_USER: 'pgfleet_pooler_admin',
    PGFLEET_POOLER_ADMIN_PASSWORD: secrets['admin-password'],
    PGFLEET_POOLER_PORT: String(ctx.port),
    PGFLEET_POOLER_REPEAT_AFTER: '0',
    ...env,
  });

runtime('on-role-change.sh sends RECONNECT to every resolved PgBouncer and exits 0', () => {
  const r = runCallback({});
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /RECONNECT sent to 1 pooler pod\(s\), 0 failed \(first\)/);
  const twice = runCallback({ PGFLEET_POOLER_REPEAT_AFTER: '1' });
  assert.match(twice.stderr, /sent to 1 pooler pod\(s\), 0 failed \(repeat\)/, 'the second round runs after the delay');
});

runtime('on-role-change.sh never fails Patroni: refused, unresolvable and closed pollers are logged, exit 0, bounded time', async () => {
  const denied = runCallback({ PGFLEET_POOLER_ADMIN_USER: 'pgfleet_pooler_stats', PGFLEET_POOLER_ADMIN_PASSWORD: secrets['stats-password'] });
  assert.is(denied.status, 0);
  assert.match(denied.stderr, /sent to 0 pooler pod\(s\), 1 failed/, 'a refused RECONNECT counts as failed');
  const closed = await freePort();
  const started = Date.now();
  const r = runCallback({ PGFLEET_POOLER_HOSTS: 'no-such-pooler.invalid 127.0.0.1', PGFLEET_POOLER_PORT: String(closed) });
  assert.is(r.status, 0);
  assert.match(r.stderr, /no-such-pooler\.invalid does not resolve/);
  assert.match(r.stderr, /sent to 0 pooler pod\(s\), 1 failed/);
  assert.ok(Date.now() - started < 10_000, 'bounded by the per-pod timeout');
  const unset = sh(join(ctx.dir, 'on-role-change.sh'), ['on_role_change', 'replica', 's'], { PGFLEET_POOLER_HOSTS: '' });
  assert.is(unset.status, 0);
  assert.match(unset.stderr, /nothing to do/);
});

runtime('max_prepared_statements stays conditional: PgBouncer 1.18 refuses the key when it is set', () => {
  const o = render({ set: { shards: 1, 'pooler.pgbouncer.maxPreparedStatements': 100 } }).objects;
  const text = one(o, 'ConfigMap', `${R}-pgfleet-shard-0-pgbouncer-rw`).data['pgbouncer.ini'] as string;
  assert.match(text, /^max_prepared_statements = 100$/m);
  const file = serverFile(join(ctx.dir, 'newer.ini'), localIni(text, { listenPort: 1, authFile: ctx.bouncer!.userlist }), 0o644);
  const argv = asPostgres([pgbouncerBin!, file]);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 5000 });
  assert.is.not(r.status, 0);
  assert.match(r.stderr + r.stdout, /max_prepared_statements/);
});

runtime.run();

// ---------------------------------------------------------------------------------------------------------
const pgdog = suite('pooler runtime: PgDog render-config.sh fills placeholders from Secret files');

pgdog('passwords with quotes, backslashes and @ survive into valid TOML; no placeholder is left', () => {
  const o = render({ set: { shards: 2, 'pooler.type': 'pgdog' } }).objects;
  const cmap = one(o, 'ConfigMap', `${R}-pgfleet-pgdog`);
  const users = one(o, 'Secret', `${R}-pgfleet-pgdog-users`).stringData['users.toml'] as string;
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-pgdog-'));
  try {
    const sdir = join(dir, 'secrets');
    spawnSync('mkdir', ['-p', sdir]);
    for (const [k, v] of Object.entries(secrets)) writeFileSync(join(sdir, k), v);
    writeFileSync(join(dir, 'render-config.sh'), cmap.data['render-config.sh']);
    writeFileSync(join(dir, 'pgdog.toml.in'), cmap.data['pgdog.toml']);
    writeFileSync(join(dir, 'users.toml.in'), users);
    for (const f of ['pgdog', 'users']) {
      const r = sh(join(dir, 'render-config.sh'), [join(dir, `${f}.toml.in`), join(dir, `${f}.toml`)], { PGFLEET_SECRETS_DIR: sdir });
      assert.is(r.status, 0, r.stderr);
    }
    const pg = parseToml(readFileSync(join(dir, 'pgdog.toml'), 'utf8')) as any;
    assert.is(pg.admin.password, secrets['pooler-admin-password']);
    assert.is(pg.databases.length, 4);
    const us = parseToml(readFileSync(join(dir, 'users.toml'), 'utf8')) as any;
    assert.equal(
      us.users.map((u: any) => [u.name, u.password]),
      [
        ['app', secrets['app-password']],
        ['admin', secrets['admin-password']],
      ],
    );
    assert.not.match(readFileSync(join(dir, 'pgdog.toml'), 'utf8') + readFileSync(join(dir, 'users.toml'), 'utf8'), /@secret:(pooler|admin-password@)/);
    const missing = sh(join(dir, 'render-config.sh'), [join(dir, 'users.toml.in'), join(dir, 'x.toml')], { PGFLEET_SECRETS_DIR: join(dir, 'nowhere') });
    assert.is.not(missing.status, 0, 'a missing Secret file stops the pod instead of starting with a bad password');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

pgdog.run();
