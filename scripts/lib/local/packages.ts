// Debian packages the local backend runs. `npm run setup:local` installs them; a missing one is a clear error.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export const PACKAGES = ['postgresql-15', 'patroni', 'python3-etcd', 'pgbouncer', 'pgbackrest', 'etcd-server', 'etcd-client', 'haproxy', 'iproute2', 'iptables', 'yamllint',
  // the monitoring sidecars' binaries (optional: a pod runs without its exporter when they are missing)
  'prometheus-postgres-exporter', 'prometheus-pgbouncer-exporter',
  // promtool, for the alert rule tests (the Prometheus server itself is never started)
  'prometheus'] as const;

/** Binaries (absolute paths) the local backend needs, and the package that ships each. */
const BINARIES: [string, string][] = [
  ['/usr/lib/postgresql/15/bin/postgres', 'postgresql-15'],
  ['/usr/bin/patroni', 'patroni'],
  ['/usr/bin/patronictl', 'patroni'],
  ['/usr/sbin/pgbouncer', 'pgbouncer'],
  ['/usr/bin/pgbackrest', 'pgbackrest'],
  ['/usr/bin/etcd', 'etcd-server'],
  ['/usr/bin/etcdctl', 'etcd-client'],
  ['/usr/sbin/haproxy', 'haproxy'],
  ['/usr/sbin/ip', 'iproute2'],
  ['/usr/sbin/iptables', 'iptables'],
];

export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const INSTALL_HINT = `npm run setup:local   (apt-get update && apt-get install -y ${PACKAGES.join(' ')})`;

export function missingPackages(): string[] {
  const missing = new Set<string>();
  for (const [bin, pkg] of BINARIES) if (!existsSync(bin)) missing.add(pkg);
  // Patroni's etcd3 DCS imports the python etcd client.
  if (!missing.has('patroni') && spawnSync('/usr/bin/python3', ['-c', 'import etcd'], { stdio: 'ignore' }).status !== 0) missing.add('python3-etcd');
  return [...missing];
}

export function requireLocalPrerequisites(): void {
  const missing = missingPackages();
  if (missing.length) throw new Error(`the local cluster needs Debian package(s) ${missing.join(', ')}: install them with\n  ${INSTALL_HINT}`);
  if (process.getuid?.() !== 0) throw new Error('the local cluster creates network namespaces and runs PostgreSQL as the postgres user: run it as root');
  if (spawnSync('id', ['-u', 'postgres'], { stdio: 'ignore' }).status !== 0) throw new Error(`the OS user postgres is missing (created by the postgresql-15 package): ${INSTALL_HINT}`);
}
