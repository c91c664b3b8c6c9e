// The kubelet of the local backend: a pod's containers as processes in the pod's network namespace, each in mount
// and PID namespaces of its own with the volumes bind-mounted at their mountPaths, run as postgres; restart with
// back-off, readiness probes, preStop hooks and the grace period, `kubectl exec`, and Jobs run to completion.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Signal } from '../cluster.ts';
import { containerEnv, expand, imageEntrypoint, materialiseVolumes, wrap, type MountMap } from './pod.ts';
import { namespacePids } from './net.ts';
import { SERVICEACCOUNT_DIR, type ApiServer } from './apiserver.ts';
import { Readiness, probeOnce } from './endpoints.ts';
import { INSTALL_HINT } from './packages.ts';
import { CONTAINER_PATH, mainPidOf } from './access.ts';
import type { LocalNode, Pod } from './node.ts';
import { asPostgres, sh, sleep, waitFor } from '../proc.ts';

// Patroni's virtualenv first: its patroni, and the python3 the chart's scripts run (`#!/usr/bin/env python3`).
const PATH = CONTAINER_PATH();

const mainPid = (child: ChildProcess) => (child.pid ? mainPidOf(child.pid) : undefined);

type Container = { argv: string[]; env: Record<string, string>; mounts: MountMap };
export type ExecResult = { code: number | null; stdout: string; stderr: string };

export class Kubelet {
  private ids?: { uid: number; gid: number };

  constructor(
    private readonly node: LocalNode,
    private readonly api: ApiServer,
  ) {}

  /**
   * Spawns argv inside a network namespace as the postgres user; stdout/stderr appended to `logFile`. With
   * `mounts` (a container), the process also gets its own mount namespace in which each volume's directory is
   * bind-mounted at its mountPath, so every path the chart renders means what it means in the container, and its
   * own PID namespace in which it is PID 1 (`kill 1` in a hook means the container's main process).
   */
  spawnIn(ns: string, argv: string[], env: Record<string, string>, logFile: string, what: string, cwd = this.node.dir, mounts?: MountMap): ChildProcess {
    const fd = openSync(logFile, 'a');
    const child = spawn('ip', ['netns', 'exec', ns, ...wrap(argv, mounts ?? [], mounts !== undefined)], {
      env: { PATH, LANG: 'C.UTF-8', ...env },
      cwd,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const state = this.node.state;
    state.pids.push({ pid: child.pid!, what });
    this.node.save();
    child.on('exit', () => {
      state.pids = state.pids.filter((p) => p.pid !== child.pid);
      if (!this.node.stopping) this.node.save();
    });
    return child;
  }

  /**
   * restartPolicy Always, as the kubelet applies it to containers (and as a service manager would to etcd, the S3
   * store and the Service stand-in): whatever exits is started again after a back-off (1 s, doubling to 30 s, reset
   * once it ran 10 s), unless the cluster is stopping or `wanted` says no (the pod is being deleted).
   */
  keepRunning(start: () => ChildProcess, wanted: () => boolean = () => true): void {
    let backoff = 1000;
    const run = () => {
      const child = start();
      const startedAt = Date.now();
      child.on('exit', () => {
        if (Date.now() - startedAt > 10_000) backoff = 1000;
        const delay = backoff;
        backoff = Math.min(backoff * 2, 30_000);
        if (!this.node.stopping && wanted())
          setTimeout(() => {
            if (!this.node.stopping && wanted()) run();
          }, delay);
      });
    };
    run();
  }

  /** The postgres user's ids: containers run as it, volumes belong to it (fsGroup). */
  private get owner(): { uid: number; gid: number } {
    return (this.ids ??= { uid: Number(sh('id', ['-u', 'postgres']).stdout.trim()), gid: Number(sh('id', ['-g', 'postgres']).stdout.trim()) });
  }

  /** Mounts, environment and argv of one container of a pod, as the kubelet would set them up. */
  private prepare(p: Pod, c: any): Container {
    const mounts = [...this.accountMount(p, c), ...materialiseVolumes(p.spec, c, p.dir, this.node.objects, this.owner)];
    const env = this.env(p, c);
    const command = c.command?.length ? c.command : imageEntrypoint(c.image);
    if (!command) throw new Error(`container ${c.name} of ${p.name} relies on the entrypoint of ${c.image}, which the local backend does not know`);
    const argv = [...command, ...(c.args ?? [])].map((a: string) => expand(String(a), env));
    return { argv, env, mounts };
  }

  /** argv, env and mounts of a running pod's container without touching its volumes. */
  view(p: Pod, c: any = p.spec.containers[0]): Container {
    const volumes = new Map<string, any>((p.spec.volumes ?? []).map((v: any) => [v.name, v]));
    const mounts: MountMap = (c.volumeMounts ?? []).map((m: any) => {
      const vol = volumes.get(m.name);
      const dir = !vol
        ? join(p.dir, `pvc-${m.name}`)
        : vol.persistentVolumeClaim
          ? join(p.dir, `pvc-${vol.persistentVolumeClaim.claimName}`)
          : join(p.dir, 'volumes', m.name);
      return { mountPath: m.mountPath, hostPath: m.subPath ? join(dir, m.subPath) : dir };
    });
    const env = this.env(p, c);
    const argv = [...(c.command ?? []), ...(c.args ?? [])].map((a: string) => expand(String(a), env));
    return { argv, env, mounts: [...this.accountMount(p, c), ...mounts] };
  }

  /** The container's environment: the `kubernetes` Service's address first (as the kubelet sets it), then its own. */
  private env(p: Pod, c: any): Record<string, string> {
    return { ...this.api.env(), ...containerEnv(c, { name: p.name, namespace: this.node.namespace, ip: p.ip, labels: p.labels }, this.node.objects) };
  }

  /** The service-account token, CA and namespace at their well-known path, unless the pod opts out or mounts its own. */
  private accountMount(p: Pod, c: any): MountMap {
    if ((c.volumeMounts ?? []).some((m: any) => m.mountPath === SERVICEACCOUNT_DIR)) return [];
    const dir = this.api.accountVolume(p.spec, this.owner.gid);
    return dir ? [{ mountPath: SERVICEACCOUNT_DIR, hostPath: dir }] : [];
  }

  /** Ready: not terminating, every container it runs is up and passes its readinessProbe. */
  ready(p: Pod): boolean {
    return !p.down && p.readiness.size > 0 && [...p.readiness].every(([name, r]) => p.procs.has(name) && r.ready);
  }

  /** Runs the init containers to completion, then keeps the containers running (a container not installed is skipped). */
  async startPod(p: Pod): Promise<void> {
    p.down = false;
    const generation = ++p.generation;
    // A new pod has only its template's labels: the chart's callback labels it again once Patroni runs.
    p.labels = { ...p.templateLabels };
    for (const r of p.readiness.values()) r.stop();
    p.readiness.clear();
    // A new pod: fresh emptyDirs and ConfigMap/Secret files, the PVC (pvc-*) survives.
    rmSync(join(p.dir, 'volumes'), { recursive: true, force: true });
    mkdirSync(p.dir, { recursive: true });
    for (const c of p.spec.initContainers ?? []) {
      const code = await this.runToEnd(p, c);
      if (code !== 0) throw new Error(`init container ${c.name} of ${p.name} exited ${code}: see ${join(p.dir, `${c.name}.log`)}`);
    }
    for (const c of p.spec.containers) {
      const entrypoint = c.command?.length ? undefined : imageEntrypoint(c.image);
      if (entrypoint && !existsSync(entrypoint[0]!)) {
        this.node.log(`pod ${p.name}: skipping container ${c.name} (${entrypoint[0]} is not installed: ${INSTALL_HINT.split('   ')[0]})`);
        continue;
      }
      const { argv, env, mounts } = this.prepare(p, c);
      this.keepRunning(
        () => {
          const child = this.spawnIn(p.ns, argv, env, join(p.dir, `${c.name}.log`), `${p.name}/${c.name}`, p.dir, mounts);
          p.procs.set(c.name, child);
          // A (re)started container is not ready until its readinessProbe passes.
          p.readiness.get(c.name)?.stop();
          const readiness = new Readiness(c.readinessProbe, (probe) =>
            probeOnce(probe, p.ip, p.spec.containers, async (cmd, timeoutMs) => (await this.exec(p, cmd, { container: c.name, timeoutMs })).code === 0),
          ).start();
          p.readiness.set(c.name, readiness);
          child.on('exit', () => {
            if (p.procs.get(c.name) === child) p.procs.delete(c.name);
            readiness.stop();
          });
          return child;
        },
        () => generation === p.generation && !p.down && !p.procs.has(c.name),
      );
    }
    this.node.log(`pod ${p.name} (${p.ip}) started: ${[...p.procs.keys()].join(', ')}`);
  }

  /** Runs one container of the pod until it exits; resolves with its exit code (its output is in <pod dir>/<container>.log). */
  private async runToEnd(p: Pod, c: any): Promise<number | null> {
    const { argv, env, mounts } = this.prepare(p, c);
    const child = this.spawnIn(p.ns, argv, env, join(p.dir, `${c.name}.log`), `${p.name}/${c.name}`, p.dir, mounts);
    return new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  }

  /**
   * SIGKILL: everything in the pod dies at once (a node crash). SIGTERM: pod deletion as the kubelet does it: each
   * container's preStop hook (unless `hooks` is false: a forced delete), then SIGTERM to its main process, and
   * SIGKILL to whatever is left at the end of the grace period.
   */
  async stopPod(p: Pod, signal: Signal, hooks = true): Promise<void> {
    p.down = true;
    p.generation++;
    for (const r of p.readiness.values()) r.stop();
    if (signal === 'SIGKILL') {
      // Patroni, the postmaster (Patroni starts it in its own session) and backends.
      this.signal(p, 'SIGKILL');
    } else {
      const deadline = Date.now() + p.terminationGraceS * 1000;
      await Promise.all(
        [...p.procs].map(async ([name, child]) => {
          const hook = p.spec.containers.find((c: any) => c.name === name)?.lifecycle?.preStop?.exec?.command;
          if (hooks && hook?.length) {
            const r = await this.exec(p, hook, { container: name, timeoutMs: Math.max(1000, deadline - Date.now()) });
            writeFileSync(join(p.dir, `${name}-prestop.log`), `${new Date().toISOString()} exit ${r.code}\n${r.stdout}${r.stderr}`, { flag: 'a' });
          }
          const pid = mainPid(child);
          if (pid) {
            try {
              process.kill(pid, 'SIGTERM');
            } catch {
              /* gone */
            }
          }
        }),
      );
      while (Date.now() < deadline && p.procs.size) await sleep(100);
      this.signal(p, 'SIGKILL');
    }
    await waitFor(`${p.name}'s processes to exit`, 15_000, async () => namespacePids(p.ns).length === 0 && p.procs.size === 0, 50);
  }

  /** Sends `signal` to every process of the pod (every container, and the wrappers that hold its namespaces). */
  signal(p: Pod, signal: NodeJS.Signals): void {
    this.signalNamespace(p.ns, signal);
  }

  /** Sends `signal` to every process of network namespace `ns` (a pod, or a daemon such as etcd). */
  signalNamespace(ns: string, signal: NodeJS.Signals): void {
    for (const pid of namespacePids(ns)) {
      try {
        process.kill(pid, signal);
      } catch {
        /* gone */
      }
    }
  }

  /**
   * Runs argv in a container of a pod (default: the first) as kubectl exec does: inside the running container's
   * namespaces (network, mounts, PIDs), with its environment; a container that is not running is imitated
   * (its network and volumes, a PID namespace of its own).
   */
  async exec(p: Pod, argv: string[], opts: { timeoutMs?: number; env?: Record<string, string>; container?: string } = {}): Promise<ExecResult> {
    const c = opts.container ? p.spec.containers.find((x: any) => x.name === opts.container) : p.spec.containers[0];
    if (!c) throw new Error(`pod ${p.name} has no container ${opts.container}`);
    const { env, mounts } = this.view(p, c);
    const main = p.procs.get(c.name) && mainPid(p.procs.get(c.name)!);
    const cmd = main
      ? ['nsenter', '--target', String(main), '--mount', '--pid', '--net', '--', ...asPostgres(argv)]
      : ['ip', 'netns', 'exec', p.ns, ...wrap(argv, mounts, true)];
    return new Promise((resolve) => {
      const child = spawn(cmd[0]!, cmd.slice(1), {
        env: { PATH, LANG: 'C.UTF-8', ...env, ...(opts.env ?? {}) },
        cwd: p.dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        stderr += `\n(timed out after ${opts.timeoutMs} ms)`;
      }, opts.timeoutMs ?? 30_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Runs a Job's pod (e.g. a CronJob's jobTemplate) to completion in the job namespace; throws on failure. */
  async runJob(name: string, spec: any, labels: Record<string, string> = {}): Promise<string> {
    const node = this.node;
    const p: Pod = {
      name,
      kind: 'Job',
      owner: name,
      labels,
      templateLabels: labels,
      spec,
      ns: `${node.name}-job`,
      veth: '',
      ip: node.jobIp,
      dir: join(node.dir, 'jobs', name),
      procs: new Map(),
      down: false,
      generation: 0,
      readiness: new Map(),
      terminationGraceS: 0,
    };
    mkdirSync(p.dir, { recursive: true });
    let out = '';
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const code = await this.runToEnd(p, c);
      out = readFileSync(join(p.dir, `${c.name}.log`), 'utf8');
      if (code !== 0) throw new Error(`job ${name} container ${c.name} exited ${code}:\n${out.split('\n').slice(-15).join('\n')}`);
    }
    this.signal(p, 'SIGKILL');
    return out;
  }
}
