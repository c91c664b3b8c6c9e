// What the local backend runs: Debian packages, plus Patroni from PyPI in a cached virtualenv (the Patroni major
// the chart's image runs; Debian's 3.0.2 loses acknowledged writes when a frozen primary resumes, see REFERENCE).
// `npm run setup:local` installs them; a missing one is a clear error.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PATRONI, cacheRoot } from '../versions.ts';

export const PACKAGES = [
  'postgresql-15',
  'python3-venv',
  'python3-psycopg2',
  'pgbouncer',
  'pgbackrest',
  'etcd-server',
  'etcd-client',
  'haproxy',
  'iproute2',
  'iptables',
  'yamllint',
  // the monitoring sidecars' binaries (optional: a pod runs without its exporter when they are missing)
  'prometheus-postgres-exporter',
  'prometheus-pgbouncer-exporter',
  // promtool, for the alert rule tests (the Prometheus server itself is never started); shellcheck for the chart's scripts
  'prometheus',
  'shellcheck',
] as const;

/**
 * Patroni's virtualenv, keyed by version: Debian's python3 with its psycopg2 (as in images/postgres/Dockerfile),
 * `patroni[etcd3,kubernetes]` from PyPI.
 */
export const PATRONI_VENV = () => join(cacheRoot(), `patroni-${PATRONI}`);
export const PATRONI_BIN = () => join(PATRONI_VENV(), 'bin');

/** Binaries (absolute paths) the local backend needs, and the package that ships each. */
const BINARIES: [string, string][] = [
  ['/usr/lib/postgresql/15/bin/postgres', 'postgresql-15'],
  ['/usr/sbin/pgbouncer', 'pgbouncer'],
  ['/usr/bin/pgbackrest', 'pgbackrest'],
  ['/usr/bin/etcd', 'etcd-server'],
  ['/usr/bin/etcdctl', 'etcd-client'],
  ['/usr/sbin/haproxy', 'haproxy'],
  ['/usr/sbin/ip', 'iproute2'],
  ['/usr/sbin/iptables', 'iptables'],
];

export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const INSTALL_HINT = `npm run setup:local   (apt-get install -y ${PACKAGES.join(' ')}; Patroni ${PATRONI} from PyPI into ${PATRONI_VENV()})`;

/** The version the virtualenv's Patroni reports, or undefined when it is not installed. */
export function installedPatroni(): string | undefined {
  const r = spawnSync(join(PATRONI_BIN(), 'patroni'), ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? /patroni (\S+)/.exec(r.stdout)?.[1] : undefined;
}

/** Installs Patroni into its virtualenv unless the right version is there already. */
export function installPatroni(run: (cmd: string, args: string[]) => void): void {
  if (installedPatroni() === PATRONI) return;
  run('/usr/bin/python3', ['-m', 'venv', '--clear', '--system-site-packages', PATRONI_VENV()]);
  run(join(PATRONI_BIN(), 'pip'), ['install', '--quiet', '--disable-pip-version-check', `patroni[etcd3,kubernetes]==${PATRONI}`]);
}

export function missingPackages(): string[] {
  const missing = new Set<string>();
  for (const [bin, pkg] of BINARIES) if (!existsSync(bin)) missing.add(pkg);
  if (spawnSync('/usr/bin/python3', ['-c', 'import psycopg2, venv'], { stdio: 'ignore' }).status !== 0) missing.add('python3-psycopg2 python3-venv');
  const patroni = installedPatroni();
  if (patroni !== PATRONI) missing.add(`Patroni ${PATRONI} (PyPI; ${patroni ? `found ${patroni}` : 'not installed'} in ${PATRONI_VENV()})`);
  return [...missing];
}

export function requireLocalPrerequisites(): void {
  const missing = missingPackages();
  if (missing.length) throw new Error(`the local cluster needs ${missing.join(', ')}: install them with\n  ${INSTALL_HINT}`);
  if (process.getuid?.() !== 0) throw new Error('the local cluster creates network namespaces and runs PostgreSQL as the postgres user: run it as root');
  if (spawnSync('id', ['-u', 'postgres'], { stdio: 'ignore' }).status !== 0)
    throw new Error(`the OS user postgres is missing (created by the postgresql-15 package): ${INSTALL_HINT}`);
}
