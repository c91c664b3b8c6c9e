// The rendered pgBackRest configuration against the real pgBackRest binary (Debian's 2.45, the oldest the chart
// supports): every config variant loads without an unknown or invalid option, and the TLS server pattern works:
// the sidecar config + Helm-generated certificates accept the backup Job's client (hostname checked against the
// server certificate's wildcard SAN) for its own stanza only. Everything runs on 127.0.0.1; the S3 endpoint is a
// closed loopback port, so no request leaves the machine.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
      .replaceAll('/var/run/postgresql', join(work, 'no-postgres-here'));
  writeFileSync(join(work, 'server.conf'), remap(confOf(objects, 'server.conf')));
  writeFileSync(join(work, 'repo-host.conf'), remap(confOf(objects, 'repo-host.conf')));
  writeFileSync(join(work, 'hosts'), `127.0.0.1 localhost ${HOST0}\n`);
  server = spawn('pgbackrest', ['server'], { env: { ...process.env, PGBACKREST_CONFIG: join(work, 'server.conf') }, stdio: 'ignore' });
  await waitFor(`the pgbackrest server on port ${port}`, 10_000, () => listens('127.0.0.1', port), 100);
  client = { ...SECRET_ENV, PGBACKREST_CONFIG: join(work, 'repo-host.conf') };
});
tls.after(() => {
  if (server?.pid && server.exitCode === null) process.kill(server.pid, 'SIGTERM');
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
