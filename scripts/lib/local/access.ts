// Reaching a running local cluster from another process (`npm run local -- psql|patronictl|status`): the
// endpoints `up()` publishes and records, and kubectl-exec into a running container by its recorded PID.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PATRONI_BIN, PG_BIN } from './packages.ts';
import type { ConnectionInfo } from '../cluster.ts';
import { asPostgres } from '../proc.ts';
import { setHostsBlock } from './net.ts';
import { alive, saveState, type State } from './state.ts';

export type ServiceKind = 'rw' | 'ro' | 'primary' | 'replicas';

/** One Service a client on this machine can use, with the connection string that works verbatim (psql, node-postgres). */
export type LocalEndpoint = { shard: string; kind: ServiceKind; service: string; host: string; port: number; tls: boolean; url: string };

export const ENDPOINTS_FILE = 'endpoints.json';
/** The cluster CA, for `sslrootcert` (the helm-generated CA of the release's TLS Secret). */
export const CA_FILE = 'ca.crt';

/** The PATH of a container in the local backend: Patroni's virtualenv, PostgreSQL's binaries, the system. */
export const CONTAINER_PATH = () => `${PATRONI_BIN()}:${PG_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

export function readEndpoints(dir: string): LocalEndpoint[] {
  return JSON.parse(readFileSync(join(dir, ENDPOINTS_FILE), 'utf8')) as LocalEndpoint[];
}

/** Host PID of a container's main process: PID 1 of its PID namespace, the child of the recorded unshare. */
export function mainPidOf(wrapperPid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${wrapperPid}/task/${wrapperPid}/children`, 'utf8').trim().split(/\s+/)[0]) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs argv as the postgres user inside the first running `container` of a database pod (its mounts, PIDs and
 * network, as kubectl exec does), with the terminal attached; returns the exit code.
 */
export function containerExec(s: State, container: string, argv: string[]): number {
  const target = s.pids
    .filter((p) => p.what.endsWith(`/${container}`) && alive(p.pid))
    .map((p) => mainPidOf(p.pid))
    .find((pid) => pid && alive(pid));
  if (!target) {
    console.error(`no running ${container} container in ${s.name}`);
    return 1;
  }
  const r = spawnSync(
    'nsenter',
    ['--target', String(target), '--mount', '--pid', '--net', '--', ...asPostgres(['env', `PATH=${CONTAINER_PATH()}`, 'LANG=C.UTF-8', ...argv])],
    { stdio: 'inherit' },
  );
  return r.status ?? 1;
}

export type PublishedService = { shard: string; kind: ServiceKind; service: string; connection: ConnectionInfo };

/**
 * What a client on this machine uses: each Service under its cluster DNS name (`<svc>.<namespace>.svc`, one of the
 * certificate's names), resolvable here through a block in /etc/hosts that teardown removes; `sslmode=verify-full`
 * with the cluster CA written to the state directory where the endpoint speaks TLS. Recorded in endpoints.json
 * for `npm run local -- psql|status`.
 */
export function publishEndpoints(s: State, namespace: string, ca: string | undefined, services: PublishedService[]): LocalEndpoint[] {
  const caFile = join(s.dir, CA_FILE);
  if (ca) writeFileSync(caFile, ca, { mode: 0o644 });
  const fqdn = (svc: string) => `${svc}.${namespace}.svc`;
  const out = services.map(({ shard, kind, service, connection: c }): LocalEndpoint => {
    const params = c.tls ? `sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}` : 'sslmode=disable';
    const url = `postgresql://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@${fqdn(service)}:${c.port}/${encodeURIComponent(c.database)}?${params}`;
    return { shard, kind, service, host: c.host, port: c.port, tls: c.tls, url };
  });
  setHostsBlock(
    s.name,
    out.map((e) => [e.host, [fqdn(e.service)]]),
  );
  s.hostsBlock = true;
  saveState(s);
  writeFileSync(join(s.dir, ENDPOINTS_FILE), JSON.stringify(out, null, 2), { mode: 0o600 });
  return out;
}
