// The rendered pgBackRest configuration against the real pgBackRest binary (Debian's 2.45, the oldest the chart
// supports): every config variant loads without an unknown or invalid option, and the TLS server pattern works:
// the sidecar config + Helm-generated certificates accept the backup Job's client (hostname checked against the
// server certificate's wildcard SAN) for its own stanza only. Everything runs on 127.0.0.1; the S3 endpoint is a
// closed loopback port, so no request leaves the machine.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTls } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { one, render, type K8sObject } from '../../scripts/lib/helm.ts';
import { chartDir } from '../../scripts/lib/tools.ts';
import { PATRONI_BIN } from '../../scripts/lib/local/packages.ts';
import { PATRONI } from '../../scripts/lib/versions.ts';
import { freePort, listens, waitFor } from '../../scripts/lib/proc.ts';

const STANZA = 'db-pgfleet-shard-0';
const HOST0 = `${STANZA}-0.${STANZA}-headless.default.svc`;
const LOOPBACK_S3 = { 'backups.s3.endpoint': '127.0.0.1', 'backups.s3.port': 1, 'backups.s3.uriStyle': 'path' };
const SECRET_ENV = {
  PGBACKREST_REPO1_S3_KEY: 'k',
  PGBACKREST_REPO1_S3_KEY_SECRET: 's',
  PGBACKREST_REPO1_CIPHER_PASS: 'c',
  PGBACKREST_REPO2_S3_KEY: 'k',
  PGBACKREST_REPO2_S3_KEY_SECRET: 's',
  PGBACKREST_REPO2_CIPHER_PASS: 'c',
};

const have = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' }).status === 0;
const pgbackrestMissing = !have('pgbackrest', ['version']);
const isRoot = process.getuid?.() === 0 && have('unshare', ['--mount', 'true']);

function pgbackrest(args: string[], env: Record<string, string>, opts: { hosts?: string } = {}) {
  // With `hosts`, run in a private mount namespace whose /etc/hosts maps the pod DNS names to 127.0.0.1.
  const argv = opts.hosts
    ? ['unshare', '--mount', 'sh', '-c', `mount --bind "$0" /etc/hosts && exec "$@"`, opts.hosts, 'pgbackrest', ...args]
    : ['pgbackrest', ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const confOf = (objects: K8sObject[], key: string) => one(objects, 'ConfigMap', `${STANZA}-pgbackrest`).data[key] as string;

const options = suite('rendered pgbackrest.conf variants load in pgBackRest 2.45');
let dir = '';
options.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgfleet-pgbr-'));
});
options.after(() => {
  rmSync(dir, { recursive: true, force: true });
});
for (const scenario of ['20-backups-values.yaml', '22-backups-s3rver-values.yaml']) {
  options(`${scenario}: no unknown, misplaced or invalid option in any variant`, () => {
    assert.not.ok(pgbackrestMissing, 'pgbackrest is not installed (npm run setup:local installs it)');
    const set = { ...LOOPBACK_S3, 'backups.repo2.s3.endpoint': '127.0.0.2', 'backups.repo2.s3.port': 1, 'backups.repo2.s3.uriStyle': 'path' };
    const objects = render({ values: [join(chartDir, 'ci', scenario)], set }).objects;
    for (const key of ['pgbackrest.conf', 'server.conf', 'repo-host.conf', 'verify.conf']) {
      const file = join(dir, `${scenario}-${key}`);
      writeFileSync(file, confOf(objects, key));
      const r = pgbackrest([`--stanza=${STANZA}`, `--lock-path=${dir}/lock`, `--repo1-path=${dir}/repo`, '--io-timeout=0.5', 'info'], {
        ...SECRET_ENV,
        PGBACKREST_CONFIG: file,
      });
      assert.not.match(r.out, /invalid option|not valid|requires option|ERROR: \[03\d\]/i, `${key}: ${r.out}`);
      assert.match(r.out, `stanza: ${STANZA}`, `${key}: ${r.out}`);
    }
  });
}
options.run();

const tls = suite('TLS server pattern: backup Job (repository host) -> pgbackrest server sidecar');
let server: ChildProcess | undefined;
let work = '';
let client: Record<string, string> = {};
const st = { port: 0 };
tls.before(async () => {
  if (pgbackrestMissing || !isRoot) return;
  work = mkdtempSync(join(tmpdir(), 'pgfleet-pgbr-tls-'));
  const port = await freePort();
  const objects = render({
    set: {
      ...LOOPBACK_S3,
      'backups.enabled': true,
      'backups.s3.bucket': 'pgfleet',
      'backups.s3.region': 'us-east-1',
      'backups.s3.existingSecret': 's',
      'backups.encryption.enabled': false,
      replicas: 0,
    },
  }).objects;
  const secret = one(objects, 'Secret', 'db-pgfleet-backup-tls');
  mkdirSync(join(work, 'tls'));
  for (const [k, v] of Object.entries<string>(secret.data)) writeFileSync(join(work, 'tls', k), Buffer.from(v, 'base64'), { mode: 0o600 });
  // Only the mount points differ from the pod: paths under the work dir, 127.0.0.1 and a free port.
  const remap = (text: string) =>
    text
      .replaceAll('/etc/pgfleet/backup-tls', join(work, 'tls'))
      .replaceAll('/tmp/pgbackrest', join(work, 'lock'))
      .replace('tls-server-address=*', 'tls-server-address=127.0.0.1')
      .replaceAll(/(tls-server-port|pg\d+-host-port)=8432/g, `$1=${port}`)
      .replaceAll('/var/run/postgresql', join(work, 'no-postgres-here'))
      .replaceAll('/opt/pgfleet/backup', join(work, 'scripts'));
  writeFileSync(join(work, 'server.conf'), remap(confOf(objects, 'server.conf')));
  writeFileSync(join(work, 'repo-host.conf'), remap(confOf(objects, 'repo-host.conf')));
  writeFileSync(join(work, 'hosts'), `127.0.0.1 localhost ${HOST0}\n`);
  // The sidecar as rendered: its command (server.sh, which runs `pgbackrest server` and tls-reload.sh) and env.
  mkdirSync(join(work, 'scripts'));
  for (const [k, v] of Object.entries<string>(one(objects, 'ConfigMap', 'db-pgfleet-backup-scripts').data)) writeFileSync(join(work, 'scripts', k), v);
  const sidecar = one(objects, 'StatefulSet', STANZA).spec.template.spec.containers.find((c: any) => c.name === 'pgbackrest');
  const env = Object.fromEntries(sidecar.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, remap(e.value)]));
  server = spawn(sidecar.command[0], sidecar.command.slice(1).map(remap), {
    env: { ...process.env, ...env, PGBACKREST_CONFIG: join(work, 'server.conf'), TLS_RELOAD_INTERVAL: '1' },
    stdio: 'ignore',
    detached: true,
  });
  await waitFor(`the pgbackrest server on port ${port}`, 10_000, () => listens('127.0.0.1', port), 100);
  client = { ...SECRET_ENV, PGBACKREST_CONFIG: join(work, 'repo-host.conf') };
  st.port = port;
});
tls.after(() => {
  // The sidecar's own process group: its script, `pgbackrest server` and the watcher.
  if (server?.pid && server.exitCode === null) process.kill(-server.pid, 'SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
});
tls('the authorised client reaches its stanza: mutual TLS and the hostname check pass, the remote runs', () => {
  assert.ok(isRoot, 'needs root and unshare to map the pod DNS name to 127.0.0.1 (the runtime tier runs as root)');
  assert.not.ok(pgbackrestMissing, 'pgbackrest is not installed');
  const r = pgbackrest([`--stanza=${STANZA}`, '--io-timeout=2', '--protocol-timeout=3', '--db-timeout=2', 'stanza-create'], client, {
    hosts: join(work, 'hosts'),
  });
  // The remote on the database side answered: it got as far as connecting to PostgreSQL (which is not running here).
  assert.match(r.out, /DbConnectError\] raised from remote-0 tls protocol/, r.out);
  assert.not.match(r.out, /access denied|certificate|CryptoError/i, r.out);
});
/** stanza-create from a repository host straight to the TLS server, as `stanza` reaching it under the name `host`. */
function stanzaCreateVia(stanza: string, host: string, lock: string, hosts?: string) {
  const port = /pg1-host-port=(\d+)/.exec(spawnSync('cat', [client.PGBACKREST_CONFIG!], { encoding: 'utf8' }).stdout)![1];
  const tlsOptions = [`--pg1-host-ca-file=${work}/tls/ca.crt`, `--pg1-host-cert-file=${work}/tls/client.crt`, `--pg1-host-key-file=${work}/tls/client.key`];
  const options = [`--stanza=${stanza}`, `--pg1-host=${host}`, '--pg1-host-type=tls', `--pg1-host-port=${port}`, ...tlsOptions];
  const limits = ['--pg1-path=/var/lib/postgresql/data/pgdata', `--lock-path=${work}/${lock}`, '--io-timeout=2', '--protocol-timeout=3'];
  return pgbackrest([...options, ...limits, 'stanza-create'], { ...SECRET_ENV, PGBACKREST_CONFIG: client.PGBACKREST_CONFIG! }, hosts ? { hosts } : undefined);
}
/** SHA-256 fingerprint of the certificate the server presents to the backup Job's client certificate. */
function servedCertificate(): Promise<string> {
  const file = (name: string) => readFileSync(join(work, 'tls', name));
  return new Promise((resolve, reject) => {
    const socket = connectTls(
      { host: '127.0.0.1', port: st.port, ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key'), rejectUnauthorized: false },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.destroy();
      },
    );
    socket.on('error', reject);
  });
}
tls('a renewed server certificate is served after the watcher sends SIGHUP, with no restart; the client still gets through', async () => {
  if (!isRoot) return;
  const before = await servedCertificate();
  const tlsDir = join(work, 'tls');
  const x509Fingerprint = (file: string) =>
    spawnSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', file], { encoding: 'utf8' }).stdout.split('=')[1]!.trim();
  assert.is(before, x509Fingerprint(join(tlsDir, 'server.crt')));
  const san = spawnSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', join(tlsDir, 'server.crt')], { encoding: 'utf8' })
    .stdout.split('\n')[1]!
    .trim()
    .replaceAll(', ', ',');
  const ok = (argv: string[]) => assert.is(spawnSync('openssl', argv, { stdio: 'ignore' }).status, 0, argv.join(' '));
  ok([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    '/CN=renewed',
    '-addext',
    `subjectAltName=${san}`,
    '-keyout',
    join(work, 'new.key'),
    '-out',
    join(work, 'new.csr'),
  ]);
  ok([
    'x509',
    '-req',
    '-in',
    join(work, 'new.csr'),
    '-CA',
    join(tlsDir, 'ca.crt'),
    '-CAkey',
    join(tlsDir, 'ca.key'),
    '-copy_extensions',
    'copy',
    '-days',
    '2',
    '-out',
    join(work, 'new.crt'),
  ]);
  const serverPid = () => spawnSync('pgrep', ['-o', '-x', '-g', String(server!.pid), 'pgbackrest'], { encoding: 'utf8' }).stdout.trim();
  const pid = serverPid();
  assert.ok(pid, 'no pgbackrest server process');
  // As the kubelet swaps a Secret volume's files: both at once.
  renameSync(join(work, 'new.key'), join(tlsDir, 'server.key'));
  renameSync(join(work, 'new.crt'), join(tlsDir, 'server.crt'));
  const after = await waitFor(
    'the renewed certificate to be served',
    15_000,
    async () => {
      const served = await servedCertificate().catch(() => undefined);
      return served && served !== before ? served : undefined;
    },
    200,
  );
  assert.is(after, x509Fingerprint(join(tlsDir, 'server.crt')));
  assert.is(serverPid(), pid, 'the server was restarted, not reloaded');
  const r = pgbackrest([`--stanza=${STANZA}`, '--io-timeout=2', '--protocol-timeout=3', '--db-timeout=2', 'stanza-create'], client, {
    hosts: join(work, 'hosts'),
  });
  assert.match(r.out, /DbConnectError\] raised from remote-0 tls protocol/, r.out);
});
tls('another stanza is refused by tls-server-auth', () => {
  if (!isRoot) return;
  const r = stanzaCreateVia('db-pgfleet-shard-1', HOST0, 'lock2', join(work, 'hosts'));
  assert.match(r.out, 'access denied', r.out);
});
tls('a name the server certificate does not cover is refused', () => {
  if (!isRoot) return;
  const r = stanzaCreateVia(STANZA, '127.0.0.1', 'lock3');
  assert.match(r.out, /unable to find hostname '127.0.0.1' in certificate/, r.out);
});
tls("SIGTERM stops the sidecar: the server and its watcher, with the server's status", async () => {
  if (!isRoot) return;
  const exited = new Promise<number | null>((resolve) => server!.once('exit', (code) => resolve(code)));
  process.kill(server!.pid!, 'SIGTERM');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running after 10 s'), 10_000))]);
  assert.is(typeof code, 'number', String(code));
  // (a killed child may show as a zombie for a moment, until init reaps it)
  const alive = () =>
    spawnSync('ps', ['-o', 'stat=,pid=,args=', '-g', String(server!.pid)], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((l) => l.trim() && !l.trim().startsWith('Z'));
  assert.equal(alive(), [], 'a process of the sidecar outlived it');
  assert.not.ok(await listens('127.0.0.1', st.port), 'the port still listens');
});
tls.run();

// The Patroni the chart's image runs, from the virtualenv `npm run setup:local` installs (Debian's 3.0.2 is not used).
const patroni = suite(`Patroni ${PATRONI} validates the backup additions`);
const PATRONI_CMD = join(PATRONI_BIN(), 'patroni');
const patroniMissing = !have(PATRONI_CMD, ['--version']);
function validatorMessages(objects: K8sObject[]): string[] {
  const file = join(mkdtempSync(join(tmpdir(), 'pgfleet-patroni-')), 'patroni.yml');
  writeFileSync(file, one(objects, 'ConfigMap', `${STANZA}-patroni`).data['patroni.yml']);
  // Pod-specific settings come from the environment in the pod; a documentation address stands in (no traffic).
  const env = {
    ...process.env,
    PATRONI_NAME: `${STANZA}-0`,
    PATRONI_RESTAPI_CONNECT_ADDRESS: '192.0.2.10:8008',
    PATRONI_POSTGRESQL_CONNECT_ADDRESS: '192.0.2.10:5432',
  };
  const r = spawnSync(PATRONI_CMD, ['--validate-config', file], { encoding: 'utf8', env, timeout: 60_000 });
  rmSync(join(file, '..'), { recursive: true, force: true });
  return `${r.stdout}${r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();
}
patroni('with backups and a restore bootstrap the config passes the validator exactly as without them', () => {
  assert.not.ok(patroniMissing, 'patroni is not installed (npm run setup:local installs it)');
  const baseline = validatorMessages(render().objects);
  for (const scenario of ['20-backups-values.yaml', '21-restore-values.yaml']) {
    const messages = validatorMessages(render({ values: [join(chartDir, 'ci', scenario)] }).objects);
    assert.equal(messages, baseline, `${scenario}: ${messages.join('; ')}`);
  }
});
patroni.run();
