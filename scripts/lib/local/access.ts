// Reaching a running local cluster from another process (`npm run local -- psql|patronictl|status`): the
// endpoints `up()` recorded, and kubectl-exec into a running container by its recorded PID.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PATRONI_BIN, PG_BIN } from './packages.ts';
import { alive, type State } from './state.ts';

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
  const target = s.pids.filter((p) => p.what.endsWith(`/${container}`) && alive(p.pid)).map((p) => mainPidOf(p.pid)).find((pid) => pid && alive(pid));
  if (!target) { console.error(`no running ${container} container in ${s.name}`); return 1; }
  const r = spawnSync('nsenter', ['--target', String(target), '--mount', '--pid', '--net', '--', 'setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', '--',
    'env', `PATH=${CONTAINER_PATH()}`, 'LANG=C.UTF-8', ...argv], { stdio: 'inherit' });
  return r.status ?? 1;
}
