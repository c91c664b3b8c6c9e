// The kube backend: the cluster interface over kubectl against any context and namespace (kind, staging...).
// Every kubectl invocation is built by a pure method (`*Args`) so the construction is unit-tested here, where
// no Kubernetes API is reachable.
import { spawn, type ChildProcess } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { toolPath } from '../tools.ts';
import { type Cluster, type ConnectionInfo, type DrillWriter, type Endpoint, type Member, type Signal, type WriterOptions } from '../cluster.ts';
import { Writer } from '../drills/writer.ts';
import { CLIENT_POD, clientPodManifest, InClusterWriter } from './client.ts';
import { appCredentials, DB_CONTAINER, ENV, PATRONI_CONFIG, SWITCHOVER_SCRIPT, TLS_CA_FILE } from '../contract.ts';
import { exec, sleep, waitFor } from '../proc.ts';

/**
 * How the backend reaches a node's own processes, below Kubernetes (kind: each node is a Docker container). With it,
 * SIGKILL kills the pod's containers on their node, a pod can be frozen and a node stopped; without it (a cluster
 * whose nodes are out of reach), SIGKILL is a forced pod deletion and freeze and node loss are unavailable.
 */
export type NodeAccess = {
  /** runs `sh -c script sh ...args` as root on the node; throws on a non-zero exit */
  sh(node: string, script: string, args: string[]): Promise<string>;
  /** stops every process of the node at once (kubelet and container runtime included), or resumes them */
  pause(node: string): Promise<void>;
  unpause(node: string): Promise<void>;
  /** the argv that runs a command on the node as root with stdin attached (append the command) */
  execArgv(node: string): string[];
};

/**
 * `client`: run the drills' writer in a pod of the cluster (on `node`, one the drills never stop), so clients reach
 * the poolers through Services and kube-proxy as applications do; without it they port-forward from here.
 * `upgrade`: `helm upgrade` of the release keeping its values, plus these `--set` pairs (the restore drill needs it:
 * a point-in-time restore is a release upgraded with restore values over an emptied shard).
 */
export type KubeOptions = {
  context: string;
  namespace: string;
  release?: string;
  kubectl?: string;
  kubeconfig?: string;
  nodes?: NodeAccess;
  client?: { node?: string };
  upgrade?: (set: Record<string, string>) => Promise<void>;
  /** the S3 endpoint, when the caller runs it: stopped and started again by the s3-outage drill */
  s3?: { stop(): Promise<void>; start(): Promise<void> };
};
type RunResult = { status: number; stdout: string; stderr: string };
export type Runner = (args: string[], input?: string, timeoutMs?: number) => RunResult | Promise<RunResult>;

export const ISOLATED_LABEL = 'pgfleet.io/isolated';
/** The control plane's static pods (kubeadm, kind), named `<component>-<node>` in kube-system: frozen in this order, thawed in reverse. */
export const CONTROL_PLANE_PODS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'];
const SEP = '\x1f';

/** Shell lines that set $sandbox to the ready pod sandbox of pod `pod` in namespace `ns` (shell words), or fail. */
const SANDBOX = (ns: string, pod: string) => `sandbox=$(crictl pods --namespace "${ns}" --name "^${pod}\\$" --state ready -q | head -n 1)
[ -n "$sandbox" ] || { echo "no ready sandbox for pod ${ns}/${pod} on this node" >&2; exit 1; }`;

/** Run on a node: prints the ID of the running container of pod $2 in namespace $1 (through the CRI). */
export const POD_CONTAINER_SCRIPT = `set -eu
${SANDBOX('$1', '$2')}
crictl ps -q --pod "$sandbox" --state running | head -n 1`;

/** Run on a node: forgets every tracked connection from or to address $1 (so a new policy applies to them too). */
export const CONNTRACK_FLUSH_SCRIPT = `for dir in --orig-src --orig-dst --reply-src --reply-dst; do conntrack -D "$dir" "$1" >/dev/null 2>&1 || true; done`;

/**
 * Run on a node: sends signal $1 to every process of every running container of pod $3 in namespace $2 (each
 * container's PID namespace, found through the CRI as the kubelet sees it), at once; prints the PIDs.
 */
export const POD_SIGNAL_SCRIPT = `set -eu
${SANDBOX('$2', '$3')}
pids=
for c in $(crictl ps -q --pod "$sandbox" --state running); do
  init=$(crictl inspect -o go-template --template '{{.info.pid}}' "$c")
  ns=$(readlink "/proc/$init/ns/pid")
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] && pids="$pids \${p#/proc/}"
  done
done
[ -n "$pids" ] || { echo "no running container in pod $2/$3" >&2; exit 1; }
kill -s "$1" $pids 2>/dev/null || true  # a short-lived process (an exec'd probe) may be gone already
echo $pids`;

export class KubeCluster implements Cluster {
  readonly backend = 'kube' as const;
  /** kubectl port-forwards by target (`pod:port`), each with its local port; all stopped by close() */
  private forwards = new Map<string, { child: ChildProcess; port: number }>();
  private run: Runner;

  constructor(
    readonly opts: KubeOptions,
    run?: Runner,
  ) {
    // Never a synchronous spawn: the drills' writer shares this event loop, and a blocked loop is a write gap.
    this.run =
      run ??
      (async (args, input, timeoutMs) => {
        const r = await exec([opts.kubectl ?? toolPath('kubectl'), ...args], { input, timeoutMs: timeoutMs ?? 300_000 });
        return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr || (r.signal ? `killed by ${r.signal} (timeout)` : '') };
      });
  }

  /** Arguments every call starts with. */
  base(): string[] {
    return [...(this.opts.kubeconfig ? ['--kubeconfig', this.opts.kubeconfig] : []), '--context', this.opts.context, '--namespace', this.opts.namespace];
  }

  private async kubectl(args: string[], input?: string, timeoutMs?: number): Promise<string> {
    const full = [...this.base(), ...args];
    const r = await this.run(full, input, timeoutMs);
    if (r.status !== 0) throw new Error(`kubectl ${full.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  }

  private instanceSelector(component: string, extra: Record<string, string> = {}): string {
    const labels: Record<string, string> = {
      'app.kubernetes.io/component': component,
      ...(this.opts.release ? { 'app.kubernetes.io/instance': this.opts.release } : {}),
      ...extra,
    };
    return Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
  }

  shardsArgs(): string[] {
    return ['get', 'statefulsets', '-l', this.instanceSelector('database'), '-o', 'json'];
  }
  podsArgs(shard: string): string[] {
    return ['get', 'pods', '-l', `cluster-name=${shard}`, '-o', 'json'];
  }
  patronictlArgs(pod: string, args: string[]): string[] {
    return ['exec', pod, '-c', DB_CONTAINER, '--', 'patronictl', '-c', PATRONI_CONFIG, ...args];
  }

  killArgs(pod: string, signal: Signal): string[] {
    // Pod deletion sends SIGTERM and waits the grace period; --grace-period=0 --force is the SIGKILL.
    return signal === 'SIGKILL' ? ['delete', 'pod', pod, '--grace-period=0', '--force', '--wait=false'] : ['delete', 'pod', pod, '--wait=false'];
  }

  /** Deny-all NetworkPolicy for an isolated pod (the chart's own policies skip pods carrying ISOLATED_LABEL). */
  isolationPolicy(pod: string): object {
    return {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `pgfleet-drill-isolate-${pod}`.slice(0, 63), labels: { 'pgfleet.io/drill': 'isolate' } },
      spec: {
        podSelector: { matchLabels: { 'statefulset.kubernetes.io/pod-name': pod, [ISOLATED_LABEL]: 'true' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [],
        egress: [],
      },
    };
  }

  partitionArgs(pod: string): string[][] {
    return [
      ['apply', '-f', '-'],
      ['label', 'pod', pod, `${ISOLATED_LABEL}=true`, '--overwrite'],
    ];
  }

  healArgs(): string[][] {
    return [
      ['delete', 'networkpolicy', '-l', 'pgfleet.io/drill=isolate', '--ignore-not-found'],
      ['label', 'pods', '-l', ISOLATED_LABEL, `${ISOLATED_LABEL}-`],
    ];
  }

  /** The chart's switchover script on the leader: poolers paused around Patroni's switchover (clients wait, none fail). */
  switchoverArgs(leader: string, candidate: string): string[] {
    return ['exec', leader, '-c', DB_CONTAINER, '--', SWITCHOVER_SCRIPT, '--candidate', candidate];
  }

  /** psql inside the pod as the superuser over the Unix socket (passwords from the container's own env). */
  memberSqlArgs(pod: string, query: string, database: string): string[] {
    return [
      'exec',
      pod,
      '-c',
      DB_CONTAINER,
      '--',
      'sh',
      '-c',
      'PGPASSWORD="$PATRONI_SUPERUSER_PASSWORD" exec psql -X -q -A -t -F "$0" -v ON_ERROR_STOP=1 -h /var/run/postgresql -d "$1" -c "$2"',
      SEP,
      database,
      query,
    ];
  }

  wipeArgs(pod: string): string[][] {
    // The StatefulSet recreates the pod with a fresh claim from its volumeClaimTemplate.
    return [
      ['delete', 'pvc', `data-${pod}`, '--wait=false'],
      ['delete', 'pod', pod, '--wait=true'],
    ];
  }

  portForwardArgs(pod: string, port: number): string[] {
    return [...this.base(), 'port-forward', `pod/${pod}`, `:${port}`];
  }

  /**
   * The ready endpoints behind a Service, from its EndpointSlices (a missing `ready` condition counts as ready, as
   * kube-proxy reads it): the pod, its address and the target port.
   */
  async readyEndpoints(service: string): Promise<{ pod?: string; address: string; port: number }[]> {
    const slices = JSON.parse(await this.kubectl(['get', 'endpointslices', '-l', `kubernetes.io/service-name=${service}`, '-o', 'json'], undefined, 15_000))
      .items as any[];
    return slices.flatMap((sl) =>
      (sl.endpoints ?? [])
        .filter((e: any) => e.conditions?.ready !== false)
        .flatMap((e: any) =>
          (e.addresses as string[]).map((address) => ({
            pod: e.targetRef?.kind === 'Pod' ? (e.targetRef.name as string) : undefined,
            address,
            port: sl.ports?.[0]?.port as number,
          })),
        ),
    );
  }

  /**
   * One of the Service's ready endpoints, picked at random as kube-proxy does for each new connection (a
   * `port-forward service/...` would always take the same pod, even one on a node that has just died).
   */
  async pickEndpoint(service: string): Promise<{ pod: string; port: number }> {
    const ready = (await this.readyEndpoints(service)).filter((e): e is { pod: string; address: string; port: number } => Boolean(e.pod));
    if (!ready.length) throw new Error(`service ${service} has no ready endpoint`);
    const { pod, port } = ready[Math.floor(Math.random() * ready.length)]!;
    return { pod, port };
  }

  async shards(): Promise<string[]> {
    return JSON.parse(await this.kubectl(this.shardsArgs()))
      .items.map((s: any) => s.metadata.name)
      .sort();
  }

  private async pods(shard: string): Promise<any[]> {
    return JSON.parse(await this.kubectl(this.podsArgs(shard))).items;
  }

  /** Running pods of a shard this backend has not frozen or cut off with their node: where exec can answer. */
  private reachable(pods: any[]): any[] {
    return pods.filter((p) => p.status?.phase === 'Running' && !this.frozen.has(p.metadata.name) && !this.stoppedNodes.has(p.spec?.nodeName));
  }

  /** patronictl in the first reachable pod that answers within 15 s (a pod on a hung node never answers). */
  private async patronictl(pods: any[], args: string[]): Promise<string> {
    const errors: string[] = [];
    for (const p of this.reachable(pods)) {
      try {
        return await this.kubectl(this.patronictlArgs(p.metadata.name, args), undefined, 15_000);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    throw new Error(`patronictl ${args.join(' ')}: no pod answered${errors.length ? `: ${errors.at(-1)}` : ''}`);
  }

  async members(shard?: string): Promise<Member[]> {
    const out: Member[] = [];
    for (const s of shard ? [shard] : await this.shards()) {
      const pods = await this.pods(s);
      let list: any[] = [];
      try {
        list = JSON.parse(await this.patronictl(pods, ['list', '--format', 'json']));
      } catch {
        /* every member unknown */
      }
      for (const p of pods) {
        const m = list.find((x) => x.Member === p.metadata.name);
        const role = m ? (/leader/i.test(m.Role) ? 'primary' : 'replica') : 'unknown';
        // Patroni 4 reports `Replay Lag` in MB (3.x: `Lag in MB`)
        const lagMb = [m?.['Replay Lag'], m?.['Lag in MB']].find((x) => typeof x === 'number');
        out.push({
          name: p.metadata.name,
          shard: s,
          role,
          state: m?.State ?? (p.status?.phase ?? 'unknown').toLowerCase(),
          host: p.status?.podIP ?? '',
          timeline: m?.TL,
          lag: lagMb === undefined ? undefined : lagMb * 2 ** 20,
          sync: /sync/i.test(m?.Role ?? ''),
        });
      }
    }
    return out;
  }

  async primary(shard: string): Promise<Member | undefined> {
    return (await this.members(shard)).find((m) => m.role === 'primary');
  }

  async dynamicConfig(shard: string): Promise<Record<string, any>> {
    return parseYaml(await this.patronictl(await this.pods(shard), ['show-config']));
  }

  async poolers(shard: string, pool?: 'rw' | 'ro'): Promise<string[]> {
    const sts = JSON.parse(await this.kubectl(['get', 'statefulset', shard, '-o', 'json']));
    const idx = sts.metadata.labels?.['pgfleet.io/shard'];
    const sel = this.instanceSelector('pgbouncer', { 'pgfleet.io/shard': idx, ...(pool ? { 'pgfleet.io/pool': pool } : {}) });
    return JSON.parse(await this.kubectl(['get', 'pods', '-l', sel, '-o', 'json'])).items.map((p: any) => p.metadata.name);
  }

  private async pod(name: string): Promise<any> {
    return JSON.parse(await this.kubectl(['get', 'pod', name, '-o', 'json']));
  }

  /** What a pod looked like when it was killed, so start() can tell its replacement or restart from it. */
  private killed = new Map<string, { uid: string; restarts: number }>();
  private frozen = new Set<string>();
  private stoppedNodes = new Set<string>();

  private static restarts(pod: any): number {
    return (pod.status?.containerStatuses ?? []).reduce((n: number, c: any) => n + (c.restartCount ?? 0), 0);
  }

  private nodeAccess(what: string): NodeAccess {
    if (!this.opts.nodes) throw new Error(`${what} needs access to the cluster's nodes (kind: the node containers); this kube backend has none`);
    return this.opts.nodes;
  }

  /** Sends `signal` to every process of the pod's containers on its node (the pod and its IP stay). */
  private async signalPod(pod: any, signal: 'KILL' | 'STOP' | 'CONT'): Promise<void> {
    await this.nodeAccess(`SIG${signal}`).sh(pod.spec.nodeName, POD_SIGNAL_SCRIPT, [signal, this.opts.namespace, pod.metadata.name]);
  }

  async kill(pod: string, signal: Signal): Promise<void> {
    const p = await this.pod(pod);
    this.killed.set(pod, { uid: p.metadata.uid, restarts: KubeCluster.restarts(p) });
    // With node access a SIGKILL is what a crash is: the containers die on their node, the kubelet restarts them
    // and the endpoints change only as readiness does. Without it, a forced deletion (which flatters: the
    // endpoints go at once).
    if (signal === 'SIGKILL' && this.opts.nodes) await this.signalPod(p, 'KILL');
    else await this.kubectl(this.killArgs(pod, signal));
  }

  /** Ready, and listed as a ready endpoint of every Service that selects it (clients reach it again). */
  private async servedAgain(pod: string, timeoutMs: number): Promise<void> {
    await waitFor(
      `${pod} to be Ready and behind its Services`,
      timeoutMs,
      async () => {
        const p = await this.pod(pod);
        if (!p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')) return false;
        const labels = p.metadata.labels ?? {};
        const services = JSON.parse(await this.kubectl(['get', 'services', '-o', 'json']))
          .items.filter((svc: any) => svc.spec.selector && Object.entries(svc.spec.selector).every(([k, v]) => labels[k] === v))
          .map((svc: any) => svc.metadata.name as string);
        for (const name of services) {
          if (!(await this.readyEndpoints(name)).some((e) => e.pod === pod && e.address === p.status.podIP)) return false;
        }
        return true;
      },
      500,
    );
  }

  async start(pod: string, timeoutMs = 300_000): Promise<void> {
    // The kubelet restarts killed containers and the controller recreates a deleted pod, by themselves.
    const before = this.killed.get(pod);
    await waitFor(
      `${pod} to be restarted or recreated`,
      timeoutMs,
      async () => {
        const r = await this.run([...this.base(), 'get', 'pod', pod, '-o', 'json']);
        if (r.status !== 0) return false;
        const p = JSON.parse(r.stdout);
        return !before || p.metadata.uid !== before.uid || KubeCluster.restarts(p) > before.restarts;
      },
      500,
    );
    this.killed.delete(pod);
    await this.servedAgain(pod, timeoutMs);
  }

  async freeze(pod: string): Promise<void> {
    await this.signalPod(await this.pod(pod), 'STOP');
    this.frozen.add(pod);
  }

  async thaw(pod: string): Promise<void> {
    await this.signalPod(await this.pod(pod), 'CONT');
    this.frozen.delete(pod);
  }

  private controlPlane: { node: string; pod: string }[] = [];

  async freezeControlPlane(): Promise<void> {
    const access = this.nodeAccess('freezing the control plane');
    const nodes = JSON.parse(await this.kubectl(['get', 'nodes', '-l', 'node-role.kubernetes.io/control-plane', '-o', 'json'])).items as any[];
    if (!nodes.length) throw new Error('no node labelled node-role.kubernetes.io/control-plane');
    this.controlPlane = nodes.flatMap((n) => CONTROL_PLANE_PODS.map((c) => ({ node: n.metadata.name as string, pod: `${c}-${n.metadata.name}` })));
    for (const { node, pod } of this.controlPlane) await access.sh(node, POD_SIGNAL_SCRIPT, ['STOP', 'kube-system', pod]);
  }

  async thawControlPlane(): Promise<void> {
    const access = this.nodeAccess('thawing the control plane');
    for (const { node, pod } of [...this.controlPlane].reverse()) await access.sh(node, POD_SIGNAL_SCRIPT, ['CONT', 'kube-system', pod]);
    this.controlPlane = [];
  }

  async stopNode(pod: string): Promise<string> {
    const node = (await this.pod(pod)).spec.nodeName as string;
    await this.nodeAccess('stopping a node').pause(node);
    this.stoppedNodes.add(node);
    return node;
  }

  async startNode(node: string): Promise<void> {
    await this.nodeAccess('starting a node').unpause(node);
    this.stoppedNodes.delete(node);
  }

  async stopS3(): Promise<void> {
    await this.s3().stop();
  }
  async startS3(): Promise<void> {
    await this.s3().start();
  }

  private s3(): NonNullable<KubeOptions['s3']> {
    if (!this.opts.s3) throw new Error('this cluster was set up without an S3 endpoint it controls (KubeOptions.s3)');
    return this.opts.s3;
  }

  async nodeOf(pod: string): Promise<{ name: string; controlPlane: boolean }> {
    const name = (await this.pod(pod)).spec.nodeName as string;
    const n = JSON.parse(await this.kubectl(['get', 'node', name, '-o', 'json']));
    return { name, controlPlane: 'node-role.kubernetes.io/control-plane' in (n.metadata.labels ?? {}) };
  }

  async nodeReady(node: string): Promise<boolean> {
    const n = JSON.parse(await this.kubectl(['get', 'node', node, '-o', 'json'], undefined, 15_000));
    return n.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True');
  }

  async primaryEndpoints(shard: string): Promise<string[]> {
    return (await this.readyEndpoints(`${shard}-primary`)).map((e) => e.address);
  }

  async partition(pod: string): Promise<void> {
    const [apply, label] = this.partitionArgs(pod);
    await this.kubectl(apply!, JSON.stringify(this.isolationPolicy(pod)));
    await this.kubectl(label!);
    // NetworkPolicy implementations filter new connections; flows already tracked (Patroni's watch on the API
    // server, replication) go on. A partition cuts those too: forget them on the pod's node once the policy is in.
    if (this.opts.nodes) {
      const p = await this.pod(pod);
      await sleep(1000);
      await this.opts.nodes.sh(p.spec.nodeName, CONNTRACK_FLUSH_SCRIPT, [p.status.podIP]);
    }
  }

  async heal(): Promise<void> {
    for (const a of this.healArgs()) await this.kubectl(a);
  }

  async switchover(shard: string, candidate?: string): Promise<string> {
    const ms = await this.members(shard);
    const leader = ms.find((m) => m.role === 'primary');
    if (!leader) throw new Error(`shard ${shard} has no primary`);
    const target = candidate ?? (ms.find((m) => m.sync) ?? ms.find((m) => m.role === 'replica'))?.name;
    if (!target) throw new Error(`shard ${shard} has no replica to switch over to`);
    await this.kubectl(this.switchoverArgs(leader.name, target));
    return target;
  }

  /** The Service an endpoint names and whether it serves TLS, looked up once (a reconnecting client asks again). */
  private services = new Map<string, { name: string; port: number; tls?: boolean }>();

  private async serviceFor(e: { service: string; shard: string }): Promise<{ name: string; port: number; tls?: boolean }> {
    const key = `${e.shard}/${e.service}`;
    const known = this.services.get(key);
    if (known) return known;
    const exists = async (n: string) => (await this.run([...this.base(), 'get', 'service', n])).status === 0;
    let svc: { name: string; port: number; tls?: boolean };
    if (e.service === 'rw' && (await exists(`${e.shard}-pgbouncer-rw`))) svc = { name: `${e.shard}-pgbouncer-rw`, port: 6432 };
    else if (e.service === 'ro' && (await exists(`${e.shard}-pgbouncer-ro`))) svc = { name: `${e.shard}-pgbouncer-ro`, port: 6432 };
    else svc = { name: `${e.shard}-${e.service === 'rw' || e.service === 'primary' ? 'primary' : 'replicas'}`, port: 5432 };
    if (svc.port === 6432) svc.tls = await this.poolerTls(svc.name);
    this.services.set(key, svc);
    return svc;
  }

  private credCache = new Map<string, { user: string; password: string; database: string; ca?: string }>();

  private async credentials(shard: string): Promise<{ user: string; password: string; database: string; ca?: string }> {
    const cached = this.credCache.get(shard);
    if (cached) return cached;
    const pod = this.reachable(await this.pods(shard))[0];
    if (!pod) throw new Error(`no reachable pod in ${shard} to read the credentials from`);
    const env = Object.fromEntries(
      (await this.kubectl(['exec', pod.metadata.name, '-c', DB_CONTAINER, '--', 'env']))
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    if (!env[ENV.appUser] || !env[ENV.appDb]) {
      // A release older than chart 0.11.2 (the lifecycle's previous one) names them only in its release state.
      const state = JSON.parse(await this.kubectl(['get', 'configmaps', '-l', this.instanceSelector('release-state'), '-o', 'json'])).items[0]?.data ?? {};
      env[ENV.appUser] ??= state['auth.appUser'];
      env[ENV.appDb] ??= state['postgresql.database'];
    }
    const ca = await this.run([...this.base(), 'exec', pod.metadata.name, '-c', DB_CONTAINER, '--', 'cat', env[ENV.tlsCa] ?? TLS_CA_FILE]);
    const cred = { ...appCredentials(env), ca: ca.status === 0 ? ca.stdout : undefined };
    this.credCache.set(shard, cred);
    return cred;
  }

  /**
   * A local port for a ready endpoint of the Service, picked as kube-proxy would for each new connection (a client
   * reconnecting after a failover gets the new primary). One port-forward per pod, reused while it runs: a forward
   * is never replaced under a client that is still connected through it.
   */
  async connection(endpoint: Endpoint): Promise<ConnectionInfo> {
    if ('member' in endpoint) throw new Error('kube backend: clients reach Services, not members (use sql() for a member)');
    const svc = await this.serviceFor(endpoint);
    const target = await this.pickEndpoint(svc.name);
    const key = `${target.pod}:${target.port}`;
    let forward = this.forwards.get(key);
    if (!forward || forward.child.exitCode !== null || forward.child.signalCode !== null) {
      const child = spawn(this.opts.kubectl ?? toolPath('kubectl'), this.portForwardArgs(target.pod, target.port), { stdio: ['ignore', 'pipe', 'pipe'] });
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d) => {
          out += d;
          const m = /127\.0\.0\.1:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.on('exit', (code) => reject(new Error(`kubectl port-forward pod/${target.pod} (service ${svc.name}) exited ${code}`)));
        // as long as a client's connect timeout: a pod on a dead node never answers
        setTimeout(() => {
          child.kill();
          reject(new Error(`kubectl port-forward pod/${target.pod} (service ${svc.name}): no port after 5 s`));
        }, 5_000);
      });
      forward = { child, port };
      this.forwards.set(key, forward);
    }
    const port = forward.port;
    const cred = await this.credentials(endpoint.shard);
    return { host: '127.0.0.1', port, ...cred, tls: svc.tls ?? Boolean(cred.ca) };
  }

  /** A PgBouncer's client TLS mode, from its rendered ini (ConfigMap named like its Service). */
  async poolerTls(service: string): Promise<boolean> {
    const r = await this.run([...this.base(), 'get', 'configmap', service, '-o', 'jsonpath={.data.pgbouncer\\.ini}']);
    const ini = r.status === 0 ? r.stdout : '';
    return /^\s*client_tls_sslmode\s*=/m.test(ini) && !/^\s*client_tls_sslmode\s*=\s*disable\s*$/m.test(ini);
  }

  private client?: Promise<void>;

  /** The in-cluster client pod: the database image, the release's client label (from its NetworkPolicies). */
  private async startClient(): Promise<void> {
    const pod = (await this.pods((await this.shards())[0]!))[0];
    const image = pod?.spec.containers.find((c: any) => c.name === DB_CONTAINER)?.image;
    if (!image) throw new Error('no database pod to take the client image from');
    const policies = JSON.parse(await this.kubectl(['get', 'networkpolicies', '-o', 'json'])).items as any[];
    const label = policies
      .flatMap((np) => np.spec.ingress ?? [])
      .flatMap((r: any) => r.from ?? [])
      .flatMap((f: any) => Object.keys(f.podSelector?.matchLabels ?? {}))
      .find((k: string) => k.endsWith('-client'));
    await this.kubectl(['delete', 'pod', CLIENT_POD, '--ignore-not-found', '--wait=true']);
    await this.kubectl(['apply', '-f', '-'], JSON.stringify(clientPodManifest(image, label ? { [label]: 'true' } : {}, this.opts.client?.node)));
    await this.kubectl(['wait', `pod/${CLIENT_POD}`, '--for=condition=Ready', '--timeout=120s'], undefined, 130_000);
  }

  async writer(endpoint: Endpoint, run: string, opts: WriterOptions = {}): Promise<DrillWriter> {
    if ('member' in endpoint) throw new Error('kube backend: clients reach Services, not members');
    if (!this.opts.client) return new Writer(() => this.connection(endpoint), run, opts);
    await (this.client ??= this.startClient());
    const svc = await this.serviceFor(endpoint);
    const cred = await this.credentials(endpoint.shard);
    return new InClusterWriter(
      this.opts.nodes
        ? await this.clientThroughNode(this.opts.nodes)
        : [this.opts.kubectl ?? toolPath('kubectl'), ...this.base(), 'exec', '-i', CLIENT_POD, '--'],
      { host: svc.name, port: svc.port, ...cred, tls: svc.tls ?? Boolean(cred.ca) },
      run,
      opts,
    );
  }

  /**
   * The argv that runs a command in the client pod through its node's container runtime: the writer's reports then
   * never pass the API server, and go on while the control plane is frozen.
   */
  private async clientThroughNode(nodes: NodeAccess): Promise<string[]> {
    const node = (await this.pod(CLIENT_POD)).spec.nodeName as string;
    const container = (await nodes.sh(node, POD_CONTAINER_SCRIPT, [this.opts.namespace, CLIENT_POD])).trim();
    if (!container) throw new Error(`no running container of ${CLIENT_POD} on ${node}`);
    return [...nodes.execArgv(node), 'crictl', 'exec', '-i', container];
  }

  async writeEndpoint(shard: string): Promise<Endpoint> {
    return { service: 'rw', shard };
  }

  async sql(endpoint: Endpoint, query: string, opts: { timeoutMs?: number; database?: string } = {}): Promise<string[][]> {
    let pod: string;
    if ('member' in endpoint) pod = endpoint.member;
    else {
      const p =
        endpoint.service === 'primary' || endpoint.service === 'rw'
          ? await this.primary(endpoint.shard)
          : (await this.members(endpoint.shard)).find((m) => m.role === 'replica');
      if (!p) throw new Error(`no ${endpoint.service} member in ${endpoint.shard}`);
      pod = p.name;
    }
    const shard = 'member' in endpoint ? pod.replace(/-\d+$/, '') : endpoint.shard;
    const db = opts.database ?? (await this.credentials(shard)).database;
    const r = await this.run([...this.base(), '--request-timeout', `${Math.ceil((opts.timeoutMs ?? 30_000) / 1000)}s`, ...this.memberSqlArgs(pod, query, db)]);
    if (r.status !== 0) throw new Error(`psql in ${pod} failed: ${r.stderr.trim()}`);
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(SEP));
  }

  async wipe(pod: string): Promise<void> {
    for (const a of this.wipeArgs(pod)) await this.kubectl(a);
    await sleep(1000);
    await this.start(pod);
  }

  async backupsEnabled(): Promise<boolean> {
    return JSON.parse(await this.kubectl(['get', 'cronjobs', '-l', this.instanceSelector('backup'), '-o', 'json'])).items.length > 0;
  }

  backupJobArgs(cronjob: string, job: string): string[][] {
    return [
      ['create', 'job', job, `--from=cronjob/${cronjob}`],
      ['wait', '--for=condition=complete', `job/${job}`, '--timeout=900s'],
    ];
  }

  async backup(shard: string, type: 'full' | 'diff' | 'incr' = 'full'): Promise<string> {
    const cjs = JSON.parse(await this.kubectl(['get', 'cronjobs', '-l', this.instanceSelector('backup'), '-o', 'json'])).items.map(
      (c: any) => c.metadata.name as string,
    );
    const cj = cjs.find((n: string) => n.startsWith(shard) && n.endsWith(type)) ?? cjs.find((n: string) => n.startsWith(shard));
    if (!cj) throw new Error(`no backup CronJob for ${shard} (found: ${cjs.join(', ') || 'none'})`);
    const job = `${cj}-drill-${Date.now().toString(36)}`.slice(0, 63);
    for (const a of this.backupJobArgs(cj, job)) await this.kubectl(a);
    return job;
  }

  /** Empties a shard for a restore: no pod, no volume, no DCS state (Patroni's ConfigMaps), so it bootstraps anew. */
  emptyShardArgs(shard: string, replicas: number): string[][] {
    return [
      ['scale', 'statefulset', shard, '--replicas=0'],
      ['wait', '--for=delete', 'pod', '-l', `cluster-name=${shard}`, '--timeout=300s'],
      ['delete', 'pvc', '--ignore-not-found', '--wait=true', ...Array.from({ length: replicas }, (_, i) => `data-${shard}-${i}`)],
      ['delete', 'configmap', '-l', `cluster-name=${shard}`, '--ignore-not-found'],
    ];
  }

  /**
   * Point-in-time restore in place, as the chart README tells a user to after losing a shard: empty the shard, then
   * `helm upgrade` with restore values (its own stanza, target time); the upgrade scales the shard back, Patroni
   * bootstraps the first member with pgbackrest restore and the others follow.
   */
  async restore(shard: string, target: Date): Promise<void> {
    if (!this.opts.upgrade) throw new Error('the kube backend restores through helm upgrade: give it KubeOptions.upgrade');
    const replicas = Number(JSON.parse(await this.kubectl(['get', 'statefulset', shard, '-o', 'json'])).spec.replicas);
    for (const a of this.emptyShardArgs(shard, replicas)) await this.kubectl(a, undefined, 330_000);
    await this.opts.upgrade({
      'restore.enabled': 'true',
      'restore.target.type': 'time',
      'restore.target.time': target.toISOString().replace('T', ' ').replace('Z', '+00'),
    });
    await waitFor(
      `${shard} restored: a running primary and ${replicas - 1} streaming replicas`,
      900_000,
      async () => {
        const ms = await this.members(shard);
        return (
          ms.some((m) => m.role === 'primary' && m.state === 'running') &&
          ms.filter((m) => m.role === 'replica' && m.state === 'streaming').length === replicas - 1
        );
      },
      3000,
    );
  }

  /** Ends what a drill left behind, also when it was interrupted: frozen pods and control plane, stopped nodes, the forwards, the client. */
  async close(): Promise<void> {
    if (this.controlPlane.length) await this.thawControlPlane().catch(() => {});
    for (const pod of this.frozen) await this.thaw(pod).catch(() => {});
    for (const node of this.stoppedNodes) await this.startNode(node).catch(() => {});
    for (const f of this.forwards.values()) f.child.kill();
    this.forwards.clear();
    if (this.client) {
      this.client = undefined;
      await this.run([...this.base(), 'delete', 'pod', CLIENT_POD, '--ignore-not-found', '--wait=false']);
    }
  }
}
