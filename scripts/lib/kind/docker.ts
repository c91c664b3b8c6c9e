// The Docker engine tier 3 runs on. A working engine the user already has (DOCKER_HOST, or the default socket) is
// used as it is and never reconfigured. Otherwise the project starts Debian's dockerd on its own socket, data-root,
// exec-root and pidfile, with pgfleet-runc as its default runtime, and stops it by PID; what dockerd changed in the
// host's firewall (FORWARD policy, its chains and rules) and the bridges it made are put back as they were.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeAccess } from '../kube/backend.ts';
import { exec, sh, sleep } from '../proc.ts';

export const OWN_DOCKER = {
  socket: '/run/pgfleet-docker/docker.sock',
  execRoot: '/run/pgfleet-docker/exec',
  pidfile: '/run/pgfleet-docker/docker.pid',
  /** The firewall as it was before the project's dockerd started: what stopping it puts back. */
  firewall: '/run/pgfleet-docker/firewall.json',
  dataRoot: '/var/lib/pgfleet-docker',
  runtime: 'pgfleet-runc',
} as const;

/** `docker info` answers on this endpoint (undefined: the environment's default). */
function answers(host?: string): boolean {
  const env = { ...process.env, ...(host ? { DOCKER_HOST: host } : {}) };
  return spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { env, stdio: 'ignore', timeout: 20_000 }).status === 0;
}

export type Engine = {
  /** The DOCKER_HOST every docker, kind and helm command of tier 3 runs with. */
  host: string;
  /** Whether the project started this engine (and so stops it). */
  own: boolean;
  stop(): Promise<void>;
};

type FirewallSnapshot = { forwardPolicy: string; links: Set<string>; ipForward: string };

function snapshot(): FirewallSnapshot {
  const forward = sh('iptables', ['-w', '-S', 'FORWARD'], { ok: [1, 2, 3] }).stdout;
  return {
    forwardPolicy: /^-P FORWARD (\S+)/m.exec(forward)?.[1] ?? 'ACCEPT',
    links: new Set(
      sh('ip', ['-o', 'link', 'show'])
        .stdout.split('\n')
        .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
        .filter((x): x is string => !!x),
    ),
    ipForward: readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(),
  };
}

/**
 * Removes what dockerd leaves in the host's firewall after it stops: the rules that jump to or mention its chains
 * (DOCKER, DOCKER-USER, DOCKER-ISOLATION-STAGE-*) and its bridges' masquerading, then the chains themselves; puts
 * the FORWARD policy and ip_forward back; deletes the bridges it made.
 */
export function restoreFirewall(before: FirewallSnapshot): void {
  for (const table of ['filter', 'nat']) {
    const rules = sh('iptables', ['-w', '-t', table, '-S'], { ok: [1, 2, 3] }).stdout.split('\n');
    for (const r of rules) {
      if (!r.startsWith('-A ') || !/DOCKER|docker0|br-[0-9a-f]{12}/.test(r)) continue;
      if (/^-A DOCKER/.test(r)) continue; // flushed with its chain below
      sh('iptables', ['-w', '-t', table, ...splitRule(r.replace(/^-A /, '-D '))], { ok: [1, 2] });
    }
    for (const r of rules) {
      const chain = /^-N (DOCKER\S*)/.exec(r)?.[1];
      if (!chain) continue;
      sh('iptables', ['-w', '-t', table, '-F', chain], { ok: [1, 2] });
    }
    for (const r of rules) {
      const chain = /^-N (DOCKER\S*)/.exec(r)?.[1];
      if (chain) sh('iptables', ['-w', '-t', table, '-X', chain], { ok: [1, 2] });
    }
  }
  sh('iptables', ['-w', '-P', 'FORWARD', before.forwardPolicy], { ok: [1, 2] });
  for (const l of snapshot().links) if (!before.links.has(l) && /^(docker0|br-[0-9a-f]{12}|veth)/.test(l)) sh('ip', ['link', 'del', l], { ok: [1, 2] });
  spawnSync('sysctl', ['-q', '-w', `net.ipv4.ip_forward=${before.ipForward}`], { stdio: 'ignore' });
}

/** iptables-save quoting: `-m comment --comment "a b"` stays one argument. */
export function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!));
}

/**
 * The engine tier 3 uses: the user's, when one answers, else the project's own dockerd (Debian's docker.io,
 * with pgfleet-runc at `runtimePath` as its default runtime), started now.
 */
export async function startEngine(runtimePath: string, log: (line: string) => void = console.log): Promise<Engine> {
  if (process.env.DOCKER_HOST && answers()) return { host: process.env.DOCKER_HOST, own: false, stop: async () => {} };
  if (!process.env.DOCKER_HOST && existsSync('/var/run/docker.sock') && answers('unix:///var/run/docker.sock')) {
    return { host: 'unix:///var/run/docker.sock', own: false, stop: async () => {} };
  }
  const host = `unix://${OWN_DOCKER.socket}`;
  if (answers(host))
    throw new Error(
      `a pgfleet dockerd already answers on ${OWN_DOCKER.socket} (pidfile ${OWN_DOCKER.pidfile}): another tier-3 run is active; wait for it or stop that PID`,
    );
  if (!existsSync('/usr/sbin/dockerd')) throw new Error('dockerd is not installed: run `npm run setup:kind` (apt-get install docker.io)');
  mkdirSync(OWN_DOCKER.execRoot, { recursive: true });
  mkdirSync(OWN_DOCKER.dataRoot, { recursive: true });
  rmSync(OWN_DOCKER.pidfile, { force: true });
  const before = snapshot();
  const logFile = join(OWN_DOCKER.dataRoot, 'dockerd.log');
  const out = openSync(logFile, 'a');
  const child = spawn(
    '/usr/sbin/dockerd',
    [
      '--host',
      host,
      '--data-root',
      OWN_DOCKER.dataRoot,
      '--exec-root',
      OWN_DOCKER.execRoot,
      '--pidfile',
      OWN_DOCKER.pidfile,
      '--add-runtime',
      `${OWN_DOCKER.runtime}=${runtimePath}`,
      '--default-runtime',
      OWN_DOCKER.runtime,
      // the project's own engine: nothing else on this machine talks to it
      '--storage-driver',
      'overlay2',
      '--exec-opt',
      'native.cgroupdriver=cgroupfs',
    ],
    { stdio: ['ignore', out, out], detached: true },
  );
  const pid = child.pid!;
  child.unref();
  writeFileSync(OWN_DOCKER.firewall, JSON.stringify({ pid, ...before, links: [...before.links] }));
  const stop = () => stopOwnEngine(log);
  for (let i = 0; i < 120; i++) {
    if (answers(host)) {
      log(`dockerd ${pid} started on ${host} (log: ${logFile})`);
      return { host, own: true, stop };
    }
    if (!alive(pid)) break;
    await sleep(500);
  }
  await stop();
  throw new Error(`dockerd did not start; the end of ${logFile}:\n${readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n')}`);
}

/**
 * Stops the project's own dockerd by the PID it was started with (also one a kept e2e run left up), then puts the
 * firewall back as it was before it started.
 */
export async function stopOwnEngine(log: (line: string) => void = console.log): Promise<void> {
  if (!existsSync(OWN_DOCKER.firewall)) return;
  const saved = JSON.parse(readFileSync(OWN_DOCKER.firewall, 'utf8')) as FirewallSnapshot & { pid: number; links: string[] };
  const pid = saved.pid;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  for (let i = 0; i < 120 && alive(pid); i++) await sleep(250);
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  restoreFirewall({ ...saved, links: new Set(saved.links) });
  rmSync(OWN_DOCKER.firewall, { force: true });
  log(`dockerd (PID ${pid}) stopped; FORWARD policy ${saved.forwardPolicy} restored`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // a zombie is not alive: dockerd is detached, but its parent is this process until it exits
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** The nodes of a kind cluster on engine `host`, as the kube backend reaches them: each node is a container there. */
export function kindNodes(host: string): NodeAccess {
  const docker = async (args: string[]) => {
    const r = await exec(['docker', ...args], { env: { DOCKER_HOST: host }, timeoutMs: 60_000 });
    if (r.status !== 0) throw new Error(`docker ${args.slice(0, 2).join(' ')} failed (exit ${r.status ?? r.signal}): ${r.stderr.trim()}`);
    return r.stdout;
  };
  return {
    sh: (node, script, args) => docker(['exec', node, 'sh', '-c', script, 'sh', ...args]),
    pause: async (node) => {
      await docker(['pause', node]);
    },
    unpause: async (node) => {
      await docker(['unpause', node]);
    },
    execArgv: (node) => ['docker', '-H', host, 'exec', '-i', node],
  };
}
