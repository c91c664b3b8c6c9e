// PostgreSQL 15 and PgBouncer 1.18 (Debian packages) as local processes on 127.0.0.1, for the runtime tests and
// the benchmark. Both refuse to run as root, so when we are root they run as the `postgres` OS user through
// setpriv (which execs: the PID we hold is the server's own, and stop() signals exactly that PID).
import { spawn, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asPostgres, asRoot, Daemon, exec, freePort, runAs, serverOwner, waitUntil, type ExecResult } from './proc.ts';

export const PGBIN = '/usr/lib/postgresql/15/bin';
export const pgbouncerBin = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => existsSync(p));
export const psqlBin = existsSync(join(PGBIN, 'psql')) ? join(PGBIN, 'psql') : 'psql';
function startDaemon(name: string, argv: string[], onExit?: NodeJS.Signals): Daemon {
  return new Daemon(name, spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }), onExit);
}

/** Makes dir (and parents) owned by the server user, mode 0755. */
export function serverDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const { uid, gid } = serverOwner();
  chownSync(dir, uid, gid);
  return dir;
}

/** Writes a file owned by the server user (0600 unless told). */
export function serverFile(path: string, content: string | Buffer, mode = 0o600): string {
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  const { uid, gid } = serverOwner();
  chownSync(path, uid, gid);
  return path;
}

// ---------------------------------------------------------------------------------------------------------------
export type PostgresOptions = {
  /** Directory for the data directory and the Unix socket (created, owned by the server user). Keep it short. */
  dir: string;
  name?: string;
  port?: number;
  /** initdb arguments besides -D/-U/--pwfile/--auth (default: UTF8, C locale). */
  initdbArgs?: string[];
  /** Superuser password (initdb --pwfile); superuser connections then send it. */
  superuserPassword?: string;
  /** pg_hba.conf lines; default: local trust, host scram-sha-256. */
  hba?: string[];
  /** Server parameters (-c); listen_addresses, port and unix_socket_directories are set here. */
  parameters?: Record<string, string | number | boolean>;
};

export type LocalPostgres = {
  name: string;
  port: number;
  dataDir: string;
  socketDir: string;
  daemon: Daemon;
  /** libpq conninfo of the superuser over the Unix socket. */
  superuser: (db?: string) => string;
  /** Environment for superuser connections (PGPASSWORD when a password is set). */
  superuserEnv: Record<string, string>;
  /** psql -X -A -t as the superuser; ON_ERROR_STOP. */
  psql: (sql: string, db?: string) => SpawnSyncReturns<string>;
  stop: () => Promise<void>;
};

export async function startPostgres(o: PostgresOptions): Promise<LocalPostgres> {
  const name = o.name ?? 'postgres';
  const dir = serverDir(o.dir);
  const dataDir = join(dir, 'data');
  const port = o.port ?? (await freePort());
  const auth: string[] = [];
  if (o.superuserPassword !== undefined) auth.push(`--pwfile=${serverFile(join(dir, 'superuser-password'), o.superuserPassword)}`);
  if (!o.hba) auth.push('--auth-local=trust', '--auth-host=scram-sha-256');
  const init = runAs(
    [join(PGBIN, 'initdb'), '-D', dataDir, '-U', 'postgres', ...auth, ...(o.initdbArgs ?? ['-E', 'UTF8', '--locale=C'])],
    {},
    { timeoutMs: 120_000 },
  );
  if (init.status !== 0) throw new Error(`initdb (${name}) failed: ${init.stderr || init.stdout}`);
  if (o.hba) serverFile(join(dataDir, 'pg_hba.conf'), `${o.hba.join('\n')}\n`);
  const params: Record<string, string | number | boolean> = { ...o.parameters, listen_addresses: '127.0.0.1', port, unix_socket_directories: dir };
  const args = Object.entries(params).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  const daemon = startDaemon(name, asPostgres([join(PGBIN, 'postgres'), '-D', dataDir, ...args]), 'SIGQUIT');
  const superuserEnv: Record<string, string> = o.superuserPassword !== undefined ? { PGPASSWORD: o.superuserPassword } : {};
  const pg: LocalPostgres = {
    name,
    port,
    dataDir,
    socketDir: dir,
    daemon,
    superuserEnv,
    superuser: (db = 'postgres') => `host=${dir} port=${port} user=postgres dbname=${db} connect_timeout=5`,
    psql: (sql, db = 'postgres') =>
      runAs([psqlBin, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', pg.superuser(db), '-c', sql], superuserEnv, { timeoutMs: 30_000 }),
    // Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL.
    stop: () => daemon.stop('SIGINT', 20_000, 'SIGQUIT'),
  };
  try {
    await waitUntil(
      `PostgreSQL ${name} on port ${port}`,
      async () => (await exec([join(PGBIN, 'pg_isready'), '-q', '-h', dir, '-p', String(port)], { timeoutMs: 5_000 })).status === 0,
      { timeoutMs: 60_000, dead: daemon },
    );
  } catch (e) {
    await pg.stop();
    throw e;
  }
  return pg;
}

/** Runs the chart's post-bootstrap.sh against pg as Patroni does (superuser URL as $1, role passwords in the env). */
export function postBootstrap(pg: LocalPostgres, script: string, env: Record<string, string>): void {
  const file = serverFile(join(pg.socketDir, 'post-bootstrap.sh'), script, 0o700);
  const r = runAs(['sh', file, pg.superuser()], { ...pg.superuserEnv, ...env }, { timeoutMs: 60_000 });
  if (r.status !== 0) throw new Error(`post-bootstrap.sh on ${pg.name} failed: ${r.stderr}`);
}

// ---------------------------------------------------------------------------------------------------------------
export type IniRewrite = {
  listenPort: number;
  authFile: string;
  /** server_tls_ca_file: replaced when given (the key must be present). */
  caFile?: string;
  /** client_tls_cert_file / client_tls_key_file: replaced when given (the keys must be present). */
  clientTls?: { certFile: string; keyFile: string };
  /** New `host=` / `port=` of every [databases] entry (a field left out keeps the rendered value). */
  server?: { host?: string; port?: number };
};

/**
 * The rendered pgbouncer.ini with only what differs between a pod and a local run rewritten: the listen address
 * (127.0.0.1) and port, file paths, and where the [databases] entries point. Throws when a key is not there, so a
 * renamed setting cannot slip through unrewritten.
 */
export function localIni(ini: string, o: IniRewrite): string {
  const set = (text: string, key: string, value: string) => {
    const re = new RegExp(`^${key} = .*$`, 'm');
    if (!re.test(text)) throw new Error(`pgbouncer.ini has no \`${key}\` to rewrite`);
    return text.replace(re, `${key} = ${value}`);
  };
  let out = set(set(set(ini, 'listen_addr', '127.0.0.1'), 'listen_port', String(o.listenPort)), 'auth_file', o.authFile);
  if (o.caFile !== undefined) out = set(out, 'server_tls_ca_file', o.caFile);
  if (o.clientTls) out = set(set(out, 'client_tls_cert_file', o.clientTls.certFile), 'client_tls_key_file', o.clientTls.keyFile);
  if (o.server) {
    const [head, rest] = splitSection(out, 'databases');
    const end = rest.search(/^\[/m) === -1 ? rest.length : rest.search(/^\[/m);
    let n = 0;
    const dbs = rest.slice(0, end).replace(/\bhost=(\S+) port=(\d+)/g, (_m, h: string, p: string) => {
      n += 1;
      return `host=${o.server!.host ?? h} port=${o.server!.port ?? p}`;
    });
    if (!n) throw new Error('pgbouncer.ini: no `host=... port=...` entry under [databases] to rewrite');
    out = head + dbs + rest.slice(end);
  }
  return out;
}

function splitSection(text: string, section: string): [string, string] {
  const at = text.indexOf(`[${section}]\n`);
  if (at === -1) throw new Error(`pgbouncer.ini has no [${section}] section`);
  const body = at + section.length + 3;
  return [text.slice(0, body), text.slice(body)];
}

export type PgBouncerOptions = {
  /** Directory for the ini, the auth_file and the Secret files (created, owned by the server user). */
  dir: string;
  /** The rendered pgbouncer.ini and make-userlist.sh. */
  ini: string;
  makeUserlist: string;
  /** Files of PGFLEET_SECRETS_DIR, as the pod mounts them (pooler-password, admin-password, stats-password). */
  secrets: Record<string, string>;
  port?: number;
  /** Content of the CA file for server_tls_ca_file. */
  caCert?: string | Buffer;
  /** Certificate and key PgBouncer serves to clients (client_tls_*_file), when the ini asks for client TLS. */
  clientTls?: { cert: string | Buffer; key: string | Buffer };
  server?: { host?: string; port?: number };
  /**
   * Host names only this PgBouncer resolves (name -> address): a private mount namespace with its own /etc/hosts,
   * so server_tls_sslmode=verify-full checks the rendered Service name while connecting to 127.0.0.1. Needs root.
   */
  hosts?: Record<string, string>;
  /** A role PgBouncer itself knows (admin or stats) for the readiness check. */
  ready: { user: string; password: string };
};

export type LocalPgBouncer = {
  port: number;
  iniPath: string;
  userlist: string;
  daemon: Daemon;
  /** psql to the admin console (`pgbouncer` database), async. */
  console: (user: string, password: string, sql: string) => Promise<ExecResult>;
  stop: () => Promise<void>;
};

export async function startPgBouncer(o: PgBouncerOptions): Promise<LocalPgBouncer> {
  if (!pgbouncerBin) throw new Error('pgbouncer is not installed (npm run setup:local)');
  const dir = serverDir(o.dir);
  const secretsDir = serverDir(join(dir, 'secrets'));
  for (const [k, v] of Object.entries(o.secrets)) serverFile(join(secretsDir, k), v);
  const userlist = join(dir, 'userlist.txt');
  const port = o.port ?? (await freePort());
  const caFile = o.caCert !== undefined ? serverFile(join(dir, 'ca.crt'), o.caCert, 0o644) : undefined;
  const clientTls = o.clientTls && {
    certFile: serverFile(join(dir, 'client-tls.crt'), o.clientTls.cert, 0o644),
    keyFile: serverFile(join(dir, 'client-tls.key'), o.clientTls.key, 0o600),
  };
  const iniPath = serverFile(join(dir, 'pgbouncer.ini'), localIni(o.ini, { listenPort: port, authFile: userlist, caFile, clientTls, server: o.server }), 0o644);
  const mkScript = serverFile(join(dir, 'make-userlist.sh'), o.makeUserlist, 0o700);
  const mk = runAs(['sh', mkScript], { PGFLEET_SECRETS_DIR: secretsDir, PGFLEET_USERLIST: userlist }, { timeoutMs: 20_000 });
  if (mk.status !== 0) throw new Error(`make-userlist.sh failed: ${mk.stderr}`);

  let argv = asPostgres([pgbouncerBin, iniPath]);
  if (o.hosts && Object.keys(o.hosts).length) {
    if (!asRoot) throw new Error('a private /etc/hosts for PgBouncer needs root (unshare --mount)');
    const hostsFile = serverFile(
      join(dir, 'hosts'),
      `127.0.0.1 localhost\n${Object.entries(o.hosts)
        .map(([n, a]) => `${a} ${n}`)
        .join('\n')}\n`,
      0o644,
    );
    // unshare and sh exec in place: the PID stays PgBouncer's.
    argv = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hostsFile, ...argv];
  }
  const daemon = startDaemon('pgbouncer', argv);
  const console_ = (user: string, password: string, sql: string) =>
    exec([psqlBin, '-X', '-A', '-t', '-F', '|', `host=127.0.0.1 port=${port} dbname=pgbouncer user=${user} connect_timeout=3`, '-c', sql], {
      env: { PGPASSWORD: password },
      timeoutMs: 10_000,
    });
  const bouncer: LocalPgBouncer = {
    port,
    iniPath,
    userlist,
    daemon,
    console: console_,
    // SIGTERM is PgBouncer 1.18's immediate shutdown (SIGINT would wait for clients to go).
    stop: () => daemon.stop('SIGTERM', 5_000),
  };
  try {
    await waitUntil(`PgBouncer on port ${port}`, async () => (await console_(o.ready.user, o.ready.password, 'SHOW VERSION')).status === 0, {
      timeoutMs: 20_000,
      dead: daemon,
    });
  } catch (e) {
    await bouncer.stop();
    throw e;
  }
  return bouncer;
}
