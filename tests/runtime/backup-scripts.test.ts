// The rendered backup scripts and configs run for real: PostgreSQL 15 (as the unprivileged postgres user)
// archives with the rendered archive_command, the scheduled-backup script runs as repository host through the
// `pgbackrest server` sidecar config over mutual TLS, and the verification script restores the backup into a
// scratch directory, starts PostgreSQL on it and reports the result. The files run as rendered, at the pods' paths:
// every command runs in a private mount namespace where the test's directories are bind-mounted where the pods
// mount their volumes (the local backend's wrap). What differs from the pods: the TLS server listens on 127.0.0.1,
// ports are free ones, a posix repository stands in for S3 (PGBACKREST_REPO1_TYPE), PGBACKREST_CONFIG names the
// rendered files where they are written. Needs root, postgresql-15 and pgbackrest: `npm run setup:local`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { one, render, type K8sObject } from '../../scripts/lib/helm.ts';
import { chartEnv, dbContainer } from '../../scripts/lib/contract.ts';
import { freePort, listens, waitFor } from '../../scripts/lib/proc.ts';
import type { SetValues } from '../../schema/values-paths.ts';
import { wrap, type MountMap } from '../../scripts/lib/local/pod.ts';

const S = 'db-pgfleet-shard-0';
const PGBIN = '/usr/lib/postgresql/15/bin';
const uid = (name: string) => Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
const ready = process.getuid?.() === 0 && existsSync(`${PGBIN}/initdb`) && spawnSync('pgbackrest', ['version']).status === 0 && !Number.isNaN(uid('postgres'));

/** Backups on, S3 settings that only have to render (the tests swap in a posix repository), no database pod. */
const BACKUPS: SetValues = {
  replicas: 0,
  'backups.enabled': true,
  'backups.s3.endpoint': '127.0.0.1',
  'backups.s3.bucket': 'pgfleet',
  'backups.s3.region': 'us-east-1',
  'backups.s3.existingSecret': 's3',
  'backups.encryption.existingSecret': 'cipher',
};

const w = suite('backup scripts against PostgreSQL 15 and pgBackRest 2.45');
let W = '';
let env: Record<string, string> = {};
let server: ChildProcess | undefined;
let pgStarted = false;
let objects: K8sObject[] = [];

/** The data directory every pod and Job of the chart uses. */
const PGDATA = '/var/lib/postgresql/data/pgdata';
type Data = 'db' | 'scratch' | 'pitr';

/**
 * The pods' volumes as the test's directories: `data` picks what is mounted at PGDATA (the database, the
 * verification Job's scratch volume, a point-in-time restore); with `hosts`, /etc/hosts maps the pod DNS name to
 * 127.0.0.1. The test's directory is not under /tmp, which is a volume too.
 */
const mounts = (data: Data, hosts: boolean): MountMap => [
  { mountPath: '/etc/pgfleet/backup-tls', hostPath: join(W, 'tls') },
  { mountPath: '/var/spool/pgbackrest', hostPath: join(W, 'spool') },
  { mountPath: '/var/run/postgresql', hostPath: join(W, 'sock') },
  { mountPath: '/opt/pgfleet/backup', hostPath: join(W, 'scripts') },
  { mountPath: '/opt/pgfleet/scripts', hostPath: join(W, 'chart-scripts') },
  { mountPath: PGDATA, hostPath: join(W, data, 'pgdata') },
  { mountPath: '/tmp', hostPath: join(W, 'tmp') },
  ...(hosts ? [{ mountPath: '/etc/hosts', hostPath: join(W, 'hosts') }] : []),
];

/** Runs as the postgres user in a mount namespace with the pods' volumes (see mounts). */
function asPostgres(cmd: string[], opts: { hosts?: boolean; data?: Data; extraEnv?: Record<string, string> } = {}) {
  if (process.env.PGFLEET_TRACE) console.error(new Date().toISOString(), cmd.join(' ').slice(0, 120));
  const envArgs = Object.entries({ ...env, ...opts.extraEnv }).map(([k, v]) => `${k}=${v}`);
  const argv = wrap(['env', ...envArgs, ...cmd], mounts(opts.data ?? 'db', opts.hosts ?? false));
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 180_000, cwd: W });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}
/** A data directory PostgreSQL accepts: postgres's own, mode 0700. */
function dataDir(data: Data): void {
  mkdirSync(join(W, data, 'pgdata'), { recursive: true, mode: 0o700 });
  spawnSync('chown', ['-R', 'postgres:postgres', join(W, data)]);
}
/** The verification Job's environment as rendered. */
const verifyEnv = () => {
  const job = objects.find((o) => o.kind === 'CronJob' && o.metadata.name.endsWith('-verify'))!;
  return { ...chartEnv(job.spec.jobTemplate.spec.template.spec.containers[0]), PGBACKREST_CONFIG: join(W, 'verify.conf') };
};
const psql = (sql: string, db = 'postgres') =>
  asPostgres([`${PGBIN}/psql`, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', join(W, 'sock'), '-d', db, '-c', sql]);

w.before(async () => {
  if (!ready) return;
  W = mkdtempSync('/var/tmp/pgfleet-backup-scripts-');
  chmodSync(W, 0o755);
  const tlsPort = await freePort();
  objects = render({
    set: {
      ...BACKUPS,
      'backups.s3.uriStyle': 'path',
      'backups.verify.enabled': true,
      'backups.archiveTimeout': 10,
      'backups.server.port': tlsPort,
    },
  }).objects;
  const cm = one(objects, 'ConfigMap', `${S}-pgbackrest`).data;
  const scripts = one(objects, 'ConfigMap', 'db-pgfleet-backup-scripts').data;
  for (const d of ['sock', 'spool', 'tls', 'scripts', 'chart-scripts', 'repo', 'tmp']) mkdirSync(join(W, d));
  for (const data of ['db', 'scratch', 'pitr'] as const) dataDir(data);
  // The configs and programs as rendered; only the TLS server's listen address is narrowed to this machine.
  for (const f of ['pgbackrest.conf', 'server.conf', 'repo-host.conf', 'verify.conf'])
    writeFileSync(join(W, f), String(cm[f]).replace('tls-server-address=*', 'tls-server-address=127.0.0.1'));
  writeFileSync(join(W, 'chart-scripts', 'post-bootstrap.sh'), one(objects, 'ConfigMap', 'db-pgfleet-scripts').data['post-bootstrap.sh'], { mode: 0o755 });
  for (const [name, text] of Object.entries<string>(scripts)) writeFileSync(join(W, 'scripts', name), text, { mode: 0o755 });
  const secret = one(objects, 'Secret', 'db-pgfleet-backup-tls');
  for (const [k, v] of Object.entries<string>(secret.data)) writeFileSync(join(W, 'tls', k), Buffer.from(v, 'base64'), { mode: 0o600 });
  writeFileSync(join(W, 'hosts'), `127.0.0.1 localhost ${S}-0.${S}-headless.default.svc\n`);
  spawnSync('chown', ['-R', 'postgres:postgres', W]);
  chownSync(join(W, 'hosts'), 0, 0);
  env = {
    PATH: `${PGBIN}:/usr/bin:/bin`,
    HOME: '/tmp',
    PGBACKREST_CONFIG: join(W, 'pgbackrest.conf'),
    // Only the repository type differs from the pods: a posix directory stands in for S3.
    PGBACKREST_REPO1_TYPE: 'posix',
    PGBACKREST_REPO1_PATH: join(W, 'repo'),
    PGBACKREST_REPO1_CIPHER_PASS: 'a-cipher-passphrase-for-tests',
  };
  const p = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === `${S}-patroni`)!.data['patroni.yml'] as string;
  const archiveCommand = /archive_command: (.+)/.exec(p)![1]!.replace(/^'|'$/g, '');
  const init = asPostgres([`${PGBIN}/initdb`, '-D', PGDATA, '--data-checksums', '-A', 'peer', '-U', 'postgres']);
  assert.is(init.status, 0, init.out);
  writeFileSync(
    join(W, 'db', 'pgdata', 'postgresql.auto.conf'),
    [
      "listen_addresses = ''",
      "unix_socket_directories = '/var/run/postgresql'",
      'archive_mode = on',
      `archive_command = '${archiveCommand.replaceAll("'", "''")}'`,
      'archive_timeout = 10',
      'wal_level = replica',
    ].join('\n') + '\n',
  );
  spawnSync('chown', ['postgres:postgres', join(W, 'db', 'pgdata', 'postgresql.auto.conf')]);
  const start = asPostgres([`${PGBIN}/pg_ctl`, '-D', PGDATA, '-l', join(W, 'db', 'postgres.log'), '-w', 'start']);
  assert.is(start.status, 0, start.out);
  pgStarted = true;
  // The sidecar: `pgbackrest server` with the rendered server.conf.
  const sidecar = wrap(['env', `PGBACKREST_CONFIG=${join(W, 'server.conf')}`, `PATH=${env.PATH}`, 'pgbackrest', 'server'], mounts('db', false));
  server = spawn(sidecar[0]!, sidecar.slice(1), { stdio: 'ignore' });
  await waitFor(`the pgbackrest server on port ${tlsPort}`, 10_000, () => listens('127.0.0.1', tlsPort), 100);
});
w.after(() => {
  if (server?.pid && server.exitCode === null) process.kill(server.pid, 'SIGTERM');
  if (pgStarted) {
    for (const data of ['db', 'scratch', 'pitr'] as const) asPostgres([`${PGBIN}/pg_ctl`, '-D', PGDATA, '-m', 'immediate', 'stop'], { data });
  }
  if (W) rmSync(W, { recursive: true, force: true });
});

w('prerequisites: root, postgresql-15 and pgbackrest (npm run setup:local)', () => {
  assert.ok(ready, 'needs root, /usr/lib/postgresql/15/bin and pgbackrest');
});
w("post-bootstrap: the chart's roles and databases, then stanza-create and check; idempotent on a second run", () => {
  if (!ready) return;
  const url = 'postgresql://postgres@/postgres?host=/var/run/postgresql';
  // The passwords the pod gives the chart's post-bootstrap, as the rendered StatefulSet names them.
  const names = (one(objects, 'StatefulSet', S).spec.template.spec.containers[0].env as { name: string }[])
    .map((e) => e.name)
    .filter((n) => /^PGFLEET_\w+_PASSWORD$/.test(n));
  assert.ok(names.length >= 3, names.join(' '));
  const passwords = Object.fromEntries(names.map((n, i) => [n, `pw-${i}-for-tests`]));
  for (const run of [1, 2]) {
    const r = asPostgres(['/opt/pgfleet/backup/post-bootstrap.sh', S, url], { extraEnv: { ...chartEnv(dbContainer(objects)), ...passwords } });
    assert.is(r.status, 0, `run ${run}: ${r.out}`);
    assert.match(r.out, /stanza-create command end: completed successfully/, `run ${run}: ${r.out}`);
    assert.match(r.out, /check command end: completed successfully/, `run ${run}: ${r.out}`);
    assert.not.match(r.out, 'WARNING', `run ${run}: ${r.out}`);
  }
  assert.is(psql("SELECT count(*) FROM pg_database WHERE datname = 'app'").out.trim(), '1', "the chart's own post-bootstrap ran first");
});
w('the scheduled full backup: stanza-create, check, backup through the TLS server, metrics in the log', () => {
  if (!ready) return;
  assert.is(psql('CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 1000) g', 'app').status, 0);
  const r = asPostgres(['/opt/pgfleet/backup/backup.sh', S, 'full'], { hosts: true, extraEnv: { PGBACKREST_CONFIG: join(W, 'repo-host.conf') } });
  assert.is(r.status, 0, r.out);
  assert.match(r.out, 'full backup of stanza db-pgfleet-shard-0 done');
  assert.match(r.out, `pgfleet_backup_success{stanza="${S}",type="full"} 1`);
  assert.match(r.out, /full backup: \d{8}-\d{6}F/);
  assert.match(r.out, `pgfleet_backup_wal_missing_segments{stanza="${S}",repo="1"} 0`, 'the WAL continuity check ran and found no gap');
  const info = asPostgres(['pgbackrest', `--stanza=${S}`, '--output=json', 'info']);
  const parsed = JSON.parse(info.out);
  assert.is(parsed[0].backup.length, 1);
  assert.is(parsed[0].cipher, 'aes-256-cbc', 'the repository is encrypted');
});
w('WAL reaches the repository through the rendered archive_command (async, encrypted)', () => {
  if (!ready) return;
  assert.is(psql('INSERT INTO orders SELECT g FROM generate_series(1001, 1500) g; SELECT pg_switch_wal()', 'app').status, 0);
  const check = asPostgres(['pgbackrest', `--stanza=${S}`, 'check']);
  assert.is(check.status, 0, check.out);
  assert.is(psql('SELECT last_archived_wal IS NOT NULL FROM pg_stat_archiver').out.trim(), 't');
});
w('WAL dropped from the repository is reported by segment and counted; a new timeline is no gap', () => {
  if (!ready) return;
  for (let i = 0; i < 3; i++)
    assert.is(psql(`INSERT INTO orders SELECT g FROM generate_series(${2000 + i * 100}, ${2099 + i * 100}) g; SELECT pg_switch_wal()`, 'app').status, 0);
  assert.is(asPostgres(['pgbackrest', `--stanza=${S}`, 'check']).status, 0);
  const dir = join(W, 'repo', 'archive', S, '15-1', '0000000100000000');
  const tl2 = join(W, 'repo', 'archive', S, '15-1', '0000000200000000');
  mkdirSync(tl2, { recursive: true });
  const segments = readdirSync(dir)
    .filter((f) => /^[0-9A-F]{24}-[0-9a-f]{40}/.test(f))
    .sort();
  assert.ok(segments.length >= 4, segments.join(' '));
  // Dropped by pgBackRest (archive-push-queue-max) while the repository was unreachable: two segments in the middle.
  const dropped = segments.slice(-3, -1);
  const aside = join(W, 'tmp');
  const check = () => asPostgres(['python3', '/opt/pgfleet/backup/wal-gaps.py', S], { extraEnv: { PGBACKREST_CONFIG: join(W, 'repo-host.conf') } });
  try {
    for (const f of dropped) renameSync(join(dir, f), join(aside, f));
    const r = check();
    assert.is(r.status, 0, r.out);
    assert.match(
      r.out,
      `WARNING: stanza ${S} repo1: WAL ${dropped[0]!.slice(0, 24)} to ${dropped[1]!.slice(0, 24)} (2 segments) is missing from the repository`,
    );
    assert.match(r.out, `pgfleet_backup_wal_missing_segments{stanza="${S}",repo="1"} 2`);
    // A promotion continues the stream on timeline 2 from the switch segment: the same positions, no gap.
    for (const f of dropped) renameSync(join(aside, f), join(tl2, f.replace(/^00000001/, '00000002')));
    const promoted = check();
    assert.is(promoted.status, 0, promoted.out);
    assert.not.match(promoted.out, 'WARNING', promoted.out);
    assert.match(promoted.out, `pgfleet_backup_wal_missing_segments{stanza="${S}",repo="1"} 0`);
  } finally {
    for (const f of dropped) {
      for (const from of [join(aside, f), join(tl2, f.replace(/^00000001/, '00000002'))]) if (existsSync(from)) renameSync(from, join(dir, f));
    }
    rmSync(tl2, { recursive: true, force: true });
  }
  const unreadable = asPostgres(['python3', '/opt/pgfleet/backup/wal-gaps.py', 'no-such-stanza'], {
    extraEnv: { PGBACKREST_CONFIG: join(W, 'repo-host.conf') },
  });
  assert.is(unreadable.status, 1, unreadable.out);
  assert.match(unreadable.out, 'WARNING: could not read the WAL of stanza no-such-stanza');
});
w('an incremental while the stanza is locked is skipped, not failed', () => {
  if (!ready) return;
  // Hold the stanza's backup lock on the database side the way a running backup's remote does.
  const lockDir = '/tmp/pgbackrest';
  const r = asPostgres(['sh', '-c', `flock -n ${lockDir}/${S}-backup.lock -c '/opt/pgfleet/backup/backup.sh ${S} incr'`], {
    hosts: true,
    extraEnv: { PGBACKREST_CONFIG: join(W, 'repo-host.conf') },
  });
  assert.is(r.status, 0, r.out);
  assert.match(r.out, 'skipping this incr backup', r.out);
});
w('restore verification: latest backup restored into scratch, PostgreSQL answers, VERIFY OK and metrics', () => {
  if (!ready) return;
  const r = asPostgres(['/opt/pgfleet/backup/verify.sh', S, 'app', '120'], { data: 'scratch', extraEnv: verifyEnv() });
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /VERIFY OK: stanza db-pgfleet-shard-0 backup \d{8}-\d{6}F/);
  assert.match(r.out, /database app: \d+ relations/);
  assert.match(r.out, `pgfleet_backup_verify_success{stanza="${S}",backup=`);
  assert.match(r.out, /pgfleet_backup_verify_success\{[^}]*\} 1/);
  assert.not.ok(existsSync(join(W, 'scratch', 'pgdata', 'postmaster.pid')), 'the scratch PostgreSQL is stopped');
});
w('verification fails loudly when the application database is missing from the backup', () => {
  if (!ready) return;
  rmSync(join(W, 'scratch', 'pgdata'), { recursive: true, force: true });
  dataDir('scratch');
  const r = asPostgres(['/opt/pgfleet/backup/verify.sh', S, 'missing_db', '120'], { data: 'scratch', extraEnv: verifyEnv() });
  assert.is(r.status, 1, r.out);
  assert.match(r.out, 'application database missing_db is missing');
  assert.match(r.out, /pgfleet_backup_verify_success\{[^}]*\} 0/);
});
w('point-in-time restore with the rendered custom bootstrap command stops exactly at the target time', () => {
  if (!ready) return;
  const now = () => psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'").out.trim();
  const before = psql('SELECT count(*) FROM orders', 'app').out.trim();
  const target = now();
  spawnSync('sleep', ['1.2']);
  assert.is(psql('INSERT INTO orders SELECT g FROM generate_series(100001, 100500) g', 'app').status, 0);
  assert.is(asPostgres(['pgbackrest', `--stanza=${S}`, 'check']).status, 0, 'WAL after the target is archived too');
  const p = render({
    set: {
      ...BACKUPS,
      'restore.enabled': true,
      'restore.target.type': 'time',
      'restore.target.time': target,
    },
  }).objects.find((o) => o.metadata.name === `${S}-patroni`)!.data['patroni.yml'] as string;
  const command = (parse(p, { version: '1.1' }) as any).bootstrap.pgbackrest_restore.command as string;
  // A socket directory of its own: the database under test keeps /var/run/postgresql.
  mkdirSync(join(W, 'pitr-sock'), { recursive: true });
  spawnSync('chown', ['-R', 'postgres:postgres', join(W, 'pitr-sock')]);
  // Patroni splits the command with shlex: do the same.
  const argv = JSON.parse(
    spawnSync('python3', ['-c', 'import json,shlex,sys; print(json.dumps(shlex.split(sys.argv[1])))', command], { encoding: 'utf8' }).stdout,
  );
  const restore = asPostgres(argv, { data: 'pitr' });
  assert.is(restore.status, 0, restore.out);
  const start = asPostgres(
    [
      `${PGBIN}/pg_ctl`,
      '-D',
      PGDATA,
      '-l',
      join(W, 'pitr', 'postgres.log'),
      '-w',
      '-t',
      '120',
      'start',
      '-o',
      `-c listen_addresses='' -c unix_socket_directories=${join(W, 'pitr-sock')} -c archive_mode=off`,
    ],
    { data: 'pitr' },
  );
  assert.is(start.status, 0, start.out);
  const q = (sql: string) => asPostgres([`${PGBIN}/psql`, '-X', '-A', '-t', '-h', join(W, 'pitr-sock'), '-d', 'app', '-c', sql]).out.trim();
  let promoted = false;
  for (let i = 0; i < 120 && !promoted; i++) {
    promoted = q('SELECT pg_is_in_recovery()') === 'f';
    if (!promoted) spawnSync('sleep', ['0.5']);
  }
  assert.ok(promoted, 'promoted at the target (--target-action=promote)');
  assert.is(q('SELECT count(*) FROM orders'), before, `rows at ${target}`);
  asPostgres([`${PGBIN}/pg_ctl`, '-D', PGDATA, '-m', 'fast', 'stop'], { data: 'pitr' });
});
w.run();
