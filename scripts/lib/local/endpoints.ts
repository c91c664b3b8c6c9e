// Service endpoints as Kubernetes keeps them, for the local backend's Service stand-ins (HAProxy listeners
// without health checks of their own): a pod backs a Service while the Service's selector matches the pod's labels
// and the pod is Ready, i.e. every container runs and passes its readinessProbe (kubelet semantics: period,
// timeout, thresholds; a terminating pod leaves at once). Patroni's `role` label is what its Kubernetes DCS
// would write (roleLabel), from the leader key and the member keys in the DCS.
import { listens } from '../proc.ts';
import { resolvePort } from './pod.ts';

export type Probe = {
  httpGet?: { path?: string; port: number | string };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
};

/** One probe attempt against a pod's IP, as the kubelet makes it. */
export async function probeOnce(probe: Probe, ip: string, containers: any[], exec: (argv: string[], timeoutMs: number) => Promise<boolean>): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const port = resolvePort(probe.httpGet.port, containers);
    try {
      const r = await fetch(`http://${ip}:${port}${probe.httpGet.path ?? '/'}`, { signal: AbortSignal.timeout(timeoutMs) });
      await r.body?.cancel();
      return r.status >= 200 && r.status < 400;
    } catch {
      return false;
    }
  }
  if (probe.tcpSocket) return listens(ip, resolvePort(probe.tcpSocket.port, containers), timeoutMs);
  if (probe.exec) return exec(probe.exec.command, timeoutMs);
  return true;
}

/** A container's readiness: false until `successThreshold` probes pass, false again after `failureThreshold` fail. */
export class Readiness {
  ready: boolean;
  private ok = 0;
  private bad = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private probe: Probe | undefined,
    private attempt: (p: Probe) => Promise<boolean>,
  ) {
    this.ready = !probe;
  }

  start(): this {
    if (this.probe) this.schedule((this.probe.initialDelaySeconds ?? 0) * 1000);
    return this;
  }

  stop(): void {
    this.stopped = true;
    this.ready = false;
    clearTimeout(this.timer);
  }

  /** One probe and its effect on readiness (what the timer runs every periodSeconds). */
  async tick(): Promise<void> {
    const p = this.probe!;
    const ok = await this.attempt(p);
    if (this.stopped) return;
    if (ok) {
      this.bad = 0;
      if (++this.ok >= (p.successThreshold ?? 1)) this.ready = true;
    } else {
      this.ok = 0;
      if (++this.bad >= (p.failureThreshold ?? 3)) this.ready = false;
    }
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(async () => {
      if (this.stopped) return;
      await this.tick();
      if (!this.stopped) this.schedule((this.probe!.periodSeconds ?? 10) * 1000);
    }, ms);
    this.timer.unref();
  }
}

export type MemberKey = { role: string; state: string; modRevision: number };
export type DcsView = { revision: number; members: Map<string, MemberKey>; leaders: Map<string, { name: string; modRevision: number }> };

/**
 * Patroni's keys under `prefix` in etcd (v3 JSON gateway): each scope's leader and each member's published role
 * and state, with revisions (so a recreated pod ignores what its previous incarnation wrote).
 */
export async function dcsView(etcd: string, prefix: string): Promise<DcsView> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  const r = await fetch(`http://${etcd}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(prefix), range_end: b64(end) }),
    signal: AbortSignal.timeout(1000),
  });
  if (!r.ok) throw new Error(`etcd range ${prefix}: HTTP ${r.status}`);
  const body = (await r.json()) as { header: { revision: string }; kvs?: { key: string; value: string; mod_revision: string }[] };
  const view: DcsView = { revision: Number(body.header.revision), members: new Map(), leaders: new Map() };
  for (const kv of body.kvs ?? []) {
    const key = Buffer.from(kv.key, 'base64').toString();
    const value = Buffer.from(kv.value ?? '', 'base64').toString();
    const modRevision = Number(kv.mod_revision);
    const leader = /^(.*)\/leader$/.exec(key.slice(prefix.length));
    if (leader) {
      view.leaders.set(leader[1]!, { name: value, modRevision });
      continue;
    }
    const m = /\/members\/([^/]+)$/.exec(key);
    if (!m) continue;
    try {
      const data = JSON.parse(value);
      if (typeof data.role === 'string') view.members.set(m[1]!, { role: data.role, state: String(data.state ?? ''), modRevision });
    } catch {
      /* not a member document */
    }
  }
  return view;
}

/**
 * The `role` label Patroni's Kubernetes DCS gives a member (its touch_member, with the chart's label values):
 * `primary` while it holds the leader key, `replica` while it runs as a standby, no label otherwise (stopped,
 * starting, or a primary without the lock). `undefined` when the DCS says nothing new about the member: the pod
 * keeps the labels it has, as a pod does when its Patroni cannot patch it.
 */
export function roleLabel(member: MemberKey | undefined, isLeader: boolean): string | null | undefined {
  if (isLeader) return 'primary';
  if (!member) return undefined;
  return member.state === 'running' && member.role !== 'primary' && member.role !== 'master' ? 'replica' : null;
}
