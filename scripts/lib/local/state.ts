// What a local cluster started, recorded under .local/<name>/state.json so `npm run local -- down` can clean up
// after a crash: network namespaces (every process inside them is ours), the bridge, PIDs outside namespaces,
// and the directories holding pod data.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from '../tools.ts';
import { deleteBridge, deleteNamespace, namespacePids, setHostsBlock } from './net.ts';

export type State = {
  name: string;
  dir: string;
  bridge?: string;
  namespaces: string[];
  pids: { pid: number; what: string }[];
  startedAt: string;
  /** the process that brought the cluster up; its reaper tears the cluster down when it dies */
  owner?: number;
  /** keep data, credentials and the DCS across runs (`npm start`); `down --purge` removes them */
  persist?: boolean;
  /** the cluster added its Service names to /etc/hosts */
  hostsBlock?: boolean;
};

/**
 * Where local clusters keep their state, pod volumes and logs. Never under a path the pods mount over (/tmp, /var/run/...):
 * each container sees its volumes bind-mounted at their mountPaths, which would hide a checkout under /tmp from it.
 * As root (what the local backend needs) that is /var/lib/pgfleet-local; PGFLEET_LOCAL_DIR overrides.
 */
export const stateRoot = () => process.env.PGFLEET_LOCAL_DIR ?? (process.getuid?.() === 0 ? '/var/lib/pgfleet-local' : join(root, '.local'));

export function stateDir(name: string): string {
  return join(stateRoot(), name);
}

export function loadState(name: string): State | undefined {
  const f = join(stateDir(name), 'state.json');
  if (!existsSync(f)) return undefined;
  return JSON.parse(readFileSync(f, 'utf8')) as State;
}

/** Writes the state atomically (a new file renamed over the old): the reaper reads it while the cluster runs. */
export function saveState(s: State): void {
  mkdirSync(s.dir, { recursive: true });
  const file = join(s.dir, 'state.json');
  writeFileSync(`${file}.${process.pid}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${file}.${process.pid}.tmp`, file);
}

export function listStates(): string[] {
  if (!existsSync(stateRoot())) return [];
  return readdirSync(stateRoot()).filter((n) => existsSync(join(stateRoot(), n, 'state.json')));
}

/** Whether a process exists and has not exited (a zombie waiting for its parent counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Whether a state records anything still running (processes, namespaces or the bridge). */
export const running = (s: State) => s.namespaces.length > 0 || s.pids.length > 0 || Boolean(s.bridge) || Boolean(s.hostsBlock);

/** Tears down everything a state file records; idempotent. Keeps the directory (data, logs) when `keepData`. */
export async function teardown(s: State, opts: { keepData?: boolean } = {}): Promise<void> {
  // Processes first (by namespace, then recorded PIDs), so nothing holds the namespaces open.
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    const pids = [...s.namespaces.flatMap((ns) => namespacePids(ns)), ...s.pids.map((p) => p.pid).filter(alive)];
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone */
      }
    }
    const deadline = Date.now() + (sig === 'SIGTERM' ? 5000 : 3000);
    while (Date.now() < deadline && [...s.namespaces.flatMap((ns) => namespacePids(ns)), ...pids.filter(alive)].length)
      await new Promise((r) => setTimeout(r, 100));
  }
  for (const ns of s.namespaces) deleteNamespace(ns);
  if (s.bridge) deleteBridge(s.bridge);
  if (s.hostsBlock) setHostsBlock(s.name, []);
  if (!opts.keepData) rmSync(s.dir, { recursive: true, force: true });
  else {
    s.namespaces = [];
    s.pids = [];
    delete s.bridge;
    delete s.hostsBlock;
    saveState(s);
  }
}
