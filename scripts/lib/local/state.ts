// What a local cluster started, recorded under .local/<name>/state.json so `npm run local -- down` can clean up
// after a crash: network namespaces (every process inside them is ours), the bridge, PIDs outside namespaces,
// and the directories holding pod data.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from '../tools.ts';
import { deleteBridge, deleteNamespace, namespacePids } from './net.ts';

export type State = {
  name: string;
  dir: string;
  bridge?: string;
  namespaces: string[];
  pids: { pid: number; what: string }[];
  startedAt: string;
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

export function saveState(s: State): void {
  mkdirSync(s.dir, { recursive: true });
  writeFileSync(join(s.dir, 'state.json'), JSON.stringify(s, null, 2));
}

export function listStates(): string[] {
  if (!existsSync(stateRoot())) return [];
  return readdirSync(stateRoot()).filter((n) => existsSync(join(stateRoot(), n, 'state.json')));
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** Tears down everything a state file records; idempotent. Keeps the directory when `keepData`. */
export async function teardown(s: State, opts: { keepData?: boolean } = {}): Promise<void> {
  // Processes first (by namespace, then recorded PIDs), so nothing holds the namespaces open.
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    const pids = [...s.namespaces.flatMap((ns) => namespacePids(ns)), ...s.pids.map((p) => p.pid).filter(alive)];
    for (const pid of pids) { try { process.kill(pid, sig); } catch { /* gone */ } }
    const deadline = Date.now() + (sig === 'SIGTERM' ? 5000 : 3000);
    while (Date.now() < deadline && [...s.namespaces.flatMap((ns) => namespacePids(ns)), ...pids.filter(alive)].length) await new Promise((r) => setTimeout(r, 100));
  }
  for (const ns of s.namespaces) deleteNamespace(ns);
  if (s.bridge) deleteBridge(s.bridge);
  if (!opts.keepData) rmSync(s.dir, { recursive: true, force: true });
  else { s.namespaces = []; s.pids = []; delete s.bridge; saveState(s); }
}
