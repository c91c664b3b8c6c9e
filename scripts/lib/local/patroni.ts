// The local backend's Patroni client: members and roles from each member's REST API and the leader key in etcd,
// health as the drills need it, the dynamic configuration, the chart's switchover script, and SQL as the superuser
// inside a member (the way `kubectl exec ... psql` runs it).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type Member } from '../cluster.ts';
import { SWITCHOVER_SCRIPT } from '../contract.ts';
import { resolvePort } from './pod.ts';
import { dcsPrefix } from './manifests.ts';
import type { Kubelet } from './kubelet.ts';
import type { LocalNode, Pod } from './node.ts';
import { waitFor } from '../proc.ts';

/** GET a path of a member's REST API: parsed JSON, or the text when it is not JSON. */
export async function patroniApi(p: Pod, path: string, timeoutMs = 1000): Promise<any> {
  const port = resolvePort('patroni', p.spec.containers);
  const r = await fetch(`http://${p.ip}:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The member holding the shard's leader key in etcd (v3 JSON gateway), or null when none does. */
async function dcsLeader(node: LocalNode, shard: string): Promise<string | null> {
  const key = Buffer.from(`${dcsPrefix(node.objects, shard)}${shard}/leader`).toString('base64');
  const r = await fetch(`http://${node.etcdIp}:2379/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key }), signal: AbortSignal.timeout(1000) });
  if (!r.ok) throw new Error(`etcd get of ${shard}'s leader key: HTTP ${r.status}`);
  const kv = ((await r.json()) as { kvs?: { value?: string }[] }).kvs?.[0];
  return kv ? Buffer.from(kv.value ?? '', 'base64').toString() : null;
}

export async function members(node: LocalNode, shard: string): Promise<Member[]> {
  const pods = node.dbPods(shard);
  // Who holds the leader key, read from etcd itself: a member's /cluster answers from its watch cache, which a
  // member resumed after SIGSTOP still fills with its old view (itself as leader) for a moment.
  const leader = await dcsLeader(node, shard).catch(() => undefined);
  // The rest of the DCS view (any reachable member answers /cluster, the leader first), completed by each member's own view.
  let view: any;
  for (const p of [...pods].sort((a, b) => Number(b.name === leader) - Number(a.name === leader))) {
    if (p.down) continue;
    try {
      view = await patroniApi(p, '/cluster');
      if (view?.members) break;
    } catch {
      /* next */
    }
  }
  // The DCS keeps a dead member's key until its TTL runs out: a member counts as running only if its own API says so.
  const own = await Promise.all(pods.map((p) => (p.down ? Promise.resolve(undefined) : patroniApi(p, '/patroni').catch(() => undefined))));
  return pods.map((p, i) => {
    const m = (view?.members ?? []).find((x: any) => x.name === p.name);
    const self = own[i];
    let role: Member['role'] = 'unknown';
    let state = p.down ? 'stopped' : 'unreachable';
    if (m) role = m.role === 'leader' || m.role === 'standby_leader' ? 'primary' : 'replica';
    if (m && leader !== undefined) role = p.name === leader ? 'primary' : 'replica';
    if (self && typeof self === 'object') state = self.state ?? state;
    if (m && self && typeof self === 'object' && self.role === 'replica' && role === 'primary') role = 'unknown';
    return {
      name: p.name,
      shard,
      role,
      state,
      host: p.ip,
      timeline: m?.timeline,
      lag: typeof m?.lag === 'number' ? m.lag : undefined,
      sync: m?.role === 'sync_standby',
    };
  });
}

/** Waits until the shard has one running primary, every replica streams, and (synchronous mode) a sync standby. */
export async function waitShardHealthy(node: LocalNode, shard: string, timeoutS: number): Promise<void> {
  await waitFor(
    `shard ${shard}: a primary and every replica streaming`,
    timeoutS * 1000,
    async () => {
      const ms = await members(node, shard);
      const leader = ms.find((m) => m.role === 'primary' && m.state === 'running');
      if (!leader || ms.filter((m) => m.role === 'primary').length !== 1) return false;
      if (!ms.every((m) => m.role === 'primary' || (m.role === 'replica' && ['running', 'streaming'].includes(m.state) && (m.lag ?? 0) < 16 << 20)))
        return false;
      // With synchronous mode on, healthy means a synchronous standby is in place.
      const config = await patroniApi(node.pod(leader.name), '/config');
      return !config?.synchronous_mode || ms.length < 2 || ms.some((m) => m.sync);
    },
    500,
  );
  node.log(`shard ${shard} healthy`);
}

export async function dynamicConfig(node: LocalNode, shard: string): Promise<Record<string, any>> {
  for (const p of node.dbPods(shard)) {
    if (p.down) continue;
    try {
      const c = await patroniApi(p, '/config');
      if (c && typeof c === 'object') return c;
    } catch {
      /* next */
    }
  }
  throw new Error(`no member of ${shard} answers /config`);
}

/** Runs the chart's switchover script in the leader's pod (kubectl exec), as an operator would. */
export async function switchover(node: LocalNode, kubelet: Kubelet, shard: string, candidate?: string): Promise<string> {
  const ms = await members(node, shard);
  const leader = ms.find((m) => m.role === 'primary');
  if (!leader) throw new Error(`shard ${shard} has no primary to switch over from`);
  const target = candidate ?? (ms.find((m) => m.sync) ?? ms.find((m) => m.role === 'replica' && m.state !== 'stopped'))?.name;
  if (!target) throw new Error(`shard ${shard} has no replica to switch over to`);
  const p = node.pod(leader.name);
  const r = await kubelet.exec(p, [SWITCHOVER_SCRIPT, '--candidate', target], { timeoutMs: 90_000 });
  writeFileSync(join(p.dir, 'switchover.log'), r.stderr, { flag: 'a' });
  if (r.code !== 0) throw new Error(`switchover of ${shard} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return target;
}

/** The patroni.yml a database pod runs with, read through its volumes. */
function patroniConfig(kubelet: Kubelet, p: Pod): any {
  const { argv, mounts } = kubelet.view(p);
  const host = (path: string) => {
    const m = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length).find((x) => path === x.mountPath || path.startsWith(`${x.mountPath}/`));
    return m ? m.hostPath + path.slice(m.mountPath.length) : path;
  };
  const file = argv
    .filter((a) => /\.ya?ml$/.test(a))
    .map(host)
    .find((a) => existsSync(a));
  if (!file) throw new Error(`${p.name}: no Patroni configuration file in the container command`);
  return parseYaml(readFileSync(file, 'utf8'));
}

/** SQL as the superuser over the member's Unix socket, inside its database container; rows of text. */
export async function memberSql(kubelet: Kubelet, p: Pod, query: string, database: string, timeoutMs?: number): Promise<string[][]> {
  const cfg = patroniConfig(kubelet, p);
  const socket = String(cfg.postgresql?.parameters?.unix_socket_directories ?? '/var/run/postgresql')
    .split(',')[0]!
    .trim();
  const port = Number(
    String(cfg.postgresql?.listen ?? '0.0.0.0:5432')
      .split(':')
      .pop(),
  );
  const su = cfg.postgresql?.authentication?.superuser?.username ?? 'postgres';
  const { env } = kubelet.view(p);
  const r = await kubelet.exec(
    p,
    ['psql', '-X', '-q', '-A', '-t', '-F', '\x1f', '-v', 'ON_ERROR_STOP=1', '-h', socket, '-p', String(port), '-U', su, '-d', database, '-c', query],
    {
      timeoutMs,
      env: { PGPASSWORD: env.PATRONI_SUPERUSER_PASSWORD ?? '', PGCONNECT_TIMEOUT: '3' },
    },
  );
  if (r.code !== 0) throw new Error(`psql on ${p.name} failed: ${r.stderr.trim()}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.length)
    .map((l) => l.split('\x1f'));
}
