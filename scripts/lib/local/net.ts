// Network of the local cluster: one Linux bridge, one network namespace per pod (veth pair, one address each),
// /etc/netns/<ns>/hosts as the cluster DNS, partitions cut per pod with iptables inside the pod's namespace.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from '../proc.ts';

export type NetPlan = { bridge: string; subnet: string; hostIp: string; prefixLen: number };

export function planNet(prefix: string, octet: number): NetPlan {
  return { bridge: `${prefix}br0`.slice(0, 15), subnet: `10.213.${octet}`, hostIp: `10.213.${octet}.1`, prefixLen: 24 };
}

export function createBridge(p: NetPlan): void {
  if (sh('ip', ['link', 'show', p.bridge], { ok: [1] }).status === 0) sh('ip', ['link', 'del', p.bridge]);
  sh('ip', ['link', 'add', p.bridge, 'type', 'bridge']);
  sh('ip', ['addr', 'add', `${p.hostIp}/${p.prefixLen}`, 'dev', p.bridge]);
  sh('ip', ['link', 'set', p.bridge, 'up']);
  forwardRules(p.bridge, 'add');
}

export function deleteBridge(bridge: string): void {
  forwardRules(bridge, 'remove');
  sh('ip', ['link', 'del', bridge], { ok: [1, 2] });
}

/**
 * Docker sets the FORWARD policy to DROP and turns on bridge-nf-call-iptables, so frames between two pods on the
 * cluster's bridge traverse FORWARD and are dropped: replicas never stream, with no hint why. The cluster accepts
 * its own bridge's traffic first in the chain, and removes exactly those rules on teardown.
 */
export function forwardRules(bridge: string, action: 'add' | 'remove'): void {
  if (sh('iptables', ['-w', '-L', 'FORWARD', '-n'], { ok: [1, 2, 3] }).status !== 0) return; // no iptables: nothing filters
  for (const dir of ['-i', '-o']) {
    const rule = [dir, bridge, '-j', 'ACCEPT', '-m', 'comment', '--comment', `pgfleet-local ${bridge}`];
    const present = () => sh('iptables', ['-w', '-C', 'FORWARD', ...rule], { ok: [1, 2] }).status === 0;
    if (action === 'add' && !present()) sh('iptables', ['-w', '-I', 'FORWARD', '1', ...rule]);
    if (action === 'remove') while (present()) sh('iptables', ['-w', '-D', 'FORWARD', ...rule]);
  }
}

/** A namespace with eth0 (addresses given) bridged to the host, and lo up. */
export function createNamespace(ns: string, veth: string, p: NetPlan, addresses: string[]): void {
  if (existsSync(`/var/run/netns/${ns}`)) deleteNamespace(ns);
  sh('ip', ['netns', 'add', ns]);
  sh('ip', ['link', 'del', veth], { ok: [1] });
  sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
  sh('ip', ['link', 'set', `${veth}p`, 'netns', ns]);
  sh('ip', ['link', 'set', veth, 'master', p.bridge]);
  sh('ip', ['link', 'set', veth, 'up']);
  sh('ip', ['-n', ns, 'link', 'set', `${veth}p`, 'name', 'eth0']);
  for (const a of addresses) sh('ip', ['-n', ns, 'addr', 'add', `${a}/${p.prefixLen}`, 'dev', 'eth0']);
  sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', p.hostIp]);
}

/** PIDs of every process living in the namespace. */
export function namespacePids(ns: string): number[] {
  if (!existsSync(`/var/run/netns/${ns}`)) return [];
  const r = sh('ip', ['netns', 'pids', ns], { ok: [1, 255] });
  return r.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => n > 1 && n !== process.pid);
}

export function deleteNamespace(ns: string): void {
  for (const pid of namespacePids(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  sh('ip', ['netns', 'del', ns], { ok: [1, 255] });
  rmSync(join('/etc/netns', ns), { recursive: true, force: true });
}

/** Writes /etc/netns/<ns>/hosts (ip netns exec bind-mounts it over /etc/hosts): the pod's cluster DNS. */
export function writeHosts(ns: string, podName: string | undefined, ip: string | undefined, entries: [string, string[]][]): void {
  const dir = join('/etc/netns', ns);
  mkdirSync(dir, { recursive: true });
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  if (podName && ip) lines.push(`${ip}\t${podName}`);
  for (const [addr, names] of entries) lines.push(`${addr}\t${names.join(' ')}`);
  writeFileSync(join(dir, 'hosts'), lines.join('\n') + '\n');
}

const hostsBegin = (name: string) => `# pgfleet-local ${name} begin (npm run local -- down removes this block)`;
const hostsEnd = (name: string) => `# pgfleet-local ${name} end`;

/**
 * Replaces (or, with no entries, removes) the local cluster's block in this machine's /etc/hosts, so clients here
 * reach Services by the names their certificates carry. Rewritten in place: /etc/hosts may be a bind mount.
 */
export function setHostsBlock(name: string, entries: [string, string[]][], file = '/etc/hosts'): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const lines = text.split('\n');
  const b = lines.indexOf(hostsBegin(name));
  const e = lines.indexOf(hostsEnd(name));
  const kept = b >= 0 && e > b ? [...lines.slice(0, b), ...lines.slice(e + 1)] : lines;
  while (kept.length && kept.at(-1) === '') kept.pop();
  const block = entries.length ? [hostsBegin(name), ...entries.map(([ip, names]) => `${ip}\t${names.join(' ')}`), hostsEnd(name)] : [];
  const next = [...kept, ...block].join('\n') + '\n';
  if (next !== text) writeFileSync(file, next);
}

export function readHosts(ns: string): string {
  return readFileSync(join('/etc/netns', ns, 'hosts'), 'utf8');
}

/** Cuts the pod off from everything but its own loopback (both directions, established flows included). */
export function isolate(ns: string): void {
  for (const chain of ['INPUT', 'OUTPUT']) {
    sh('ip', ['netns', 'exec', ns, 'iptables', '-w', '-I', chain, '1', '-j', 'DROP']);
    sh('ip', ['netns', 'exec', ns, 'iptables', '-w', '-I', chain, '1', chain === 'INPUT' ? '-i' : '-o', 'lo', '-j', 'ACCEPT']);
  }
}

export function unisolate(ns: string): void {
  if (!existsSync(`/var/run/netns/${ns}`)) return;
  for (const chain of ['INPUT', 'OUTPUT']) sh('ip', ['netns', 'exec', ns, 'iptables', '-w', '-F', chain]);
}
