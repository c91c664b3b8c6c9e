// Service endpoints as Kubernetes keeps them, for the local backend's Service stand-ins (HAProxy listeners
// without health checks of their own): a pod backs a Service while the Service's selector matches the pod's labels
// and the pod is Ready, i.e. every container runs and passes its readinessProbe (kubelet semantics: period,
// timeout, thresholds; a terminating pod leaves at once). The `role` label is what the chart's callback patched
// through the API server stand-in (apiserver.ts), never derived here.
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
