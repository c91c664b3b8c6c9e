// The one process layer: spawning and waiting, running as the postgres user (PostgreSQL refuses root), free
// ports, long-running daemons stopped by their own PID. localpg.ts, the local and kube backends, the kind tier,
// the bench and the tests all use these; nothing else defines them.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as timer } from 'node:timers/promises';

/** Resolves after `ms` milliseconds (node's promise timer). */
export const sleep = (ms: number): Promise<void> => timer(ms);

export const asRoot = process.getuid?.() === 0;

/** uid/gid the servers run as: the postgres OS user when we are root, ourselves otherwise. */
export function serverOwner(): { uid: number; gid: number } {
  if (!asRoot) return { uid: process.getuid!(), gid: process.getgid!() };
  const id = (flag: string) => {
    const r = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error('running as root needs a `postgres` OS user for PostgreSQL and PgBouncer (apt-get install postgresql-15)');
    return Number(r.stdout.trim());
  };
  return { uid: id('-u'), gid: id('-g') };
}

/** argv prefixed so that it runs as the postgres user when we are root. */
export const asPostgres = (argv: string[]) => (asRoot ? ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', '--', ...argv] : argv);

/** Runs argv (as the postgres user when root) to completion; bounded by timeoutMs. */
export function runAs(argv: string[], env: Record<string, string> = {}, o: { input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  const a = asPostgres(argv);
  return spawnSync(a[0]!, a.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, input: o.input, timeout: o.timeoutMs ?? 60_000 });
}

export type ExecResult = { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/**
 * Runs argv without blocking the event loop; killed after timeoutMs or when `signal` aborts. With `group`, the
 * command gets its own process group and the whole group is killed (a shell wrapper and what it runs). `input`
 * is written to its stdin.
 */
export function exec(
  argv: string[],
  o: { env?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal; group?: boolean; input?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    if (o.signal?.aborted) return reject(new Error(`not started (aborted): ${argv[0]}`));
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...process.env, ...o.env },
      stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: o.group,
    });
    if (o.input !== undefined) child.stdin!.end(o.input);
    let stdout = '';
    let stderr = '';
    const kill = () => {
      if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(o.group ? -child.pid : child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(kill, o.timeoutMs ?? 60_000);
    o.signal?.addEventListener('abort', kill, { once: true });
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', kill);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** Whether host:port accepts a TCP connection within timeoutMs. */
export function listens(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false)).on('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** A long-running server process we started: its output (last 256 KiB) and a stop() that signals its PID. */
/** Daemons still running, each with the signal that stops it at once (a test process that crashes stops them on exit). */
const live = new Map<ChildProcess, NodeJS.Signals>();
process.once('exit', () => {
  for (const [child, sig] of live) {
    try {
      process.kill(child.pid!, sig);
    } catch {
      /* gone */
    }
  }
});

export class Daemon {
  private out = '';
  readonly exited: Promise<void>;
  /** `onExit`: sent if this process exits (even by a crash) while the daemon runs; SIGQUIT for PostgreSQL, whose backends a SIGKILL would orphan. */
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    onExit: NodeJS.Signals = 'SIGKILL',
  ) {
    live.set(child, onExit);
    child.once('exit', () => live.delete(child));
    const append = (d: Buffer) => {
      this.out = (this.out + `[${name}] ${d}`).slice(-(256 << 10));
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    this.exited = new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
  }
  get pid() {
    return this.child.pid;
  }
  get running() {
    return this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }
  get log() {
    return this.out;
  }
  /** Sends `signal` to our PID, waits up to graceMs, then `escalate` (and SIGKILL as the last resort). */
  async stop(signal: NodeJS.Signals, graceMs = 15_000, escalate: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    for (const [sig, ms] of [
      [signal, graceMs],
      [escalate, 5_000],
      ['SIGKILL', 5_000],
    ] as const) {
      if (!this.running) return;
      try {
        process.kill(this.child.pid!, sig);
      } catch {
        return;
      }
      await Promise.race([this.exited, sleep(ms)]);
    }
  }
}

/**
 * A daemon's start: polls check() every intervalMs until it holds; throws after timeoutMs, or at once when `dead`
 * says the server is gone (waitFor, below, is for everything else: it retries through errors).
 */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, o: { timeoutMs?: number; intervalMs?: number; dead?: Daemon } = {}) {
  const end = Date.now() + (o.timeoutMs ?? 20_000);
  while (Date.now() < end) {
    if (o.dead && !o.dead.running) throw new Error(`${o.dead.name} exited while waiting for ${what}:\n${o.dead.log}`);
    if (await check()) return;
    await sleep(o.intervalMs ?? 200);
  }
  throw new Error(`timed out after ${o.timeoutMs ?? 20_000} ms waiting for ${what}${o.dead ? `:\n${o.dead.log}` : ''}`);
}

export class CommandError extends Error {}

/** Runs a command synchronously; throws with its stderr unless `ok` lists the tolerated exit codes. */
export function sh(
  cmd: string,
  args: string[],
  opts: { ok?: number[]; input?: string; timeoutMs?: number } = {},
): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 });
  const status = r.status ?? -1;
  if (status !== 0 && !(opts.ok ?? []).includes(status)) {
    throw new CommandError(`${cmd} ${args.join(' ')} exited ${status}${r.error ? ` (${r.error.message})` : ''}: ${(r.stderr || r.stdout || '').trim()}`);
  }
  return { status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (then throws, naming `what`). */
export async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined | false | null>, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? `: ${(last as Error).message ?? last}` : ''}`);
    await sleep(intervalMs);
  }
}
