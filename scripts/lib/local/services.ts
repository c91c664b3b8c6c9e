// Services and cluster DNS on the local backend: the network (a bridge, a namespace per pod and per daemon), a
// hosts file in each namespace for what cluster DNS would answer, and Services as HAProxy listeners whose servers
// the endpoints loop enables exactly while their pod is a ready endpoint (the endpoints controller and kube-proxy).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { K8sObject } from '../helm.ts';
import { resolvePort, selectorMatches } from './pod.ts';
import { createBridge, createNamespace, writeHosts } from './net.ts';
import { haproxyCommand, haproxyConfig, type Listener } from './haproxy.ts';
import { backupsRendered, ETCD_SERVICE, S3_SERVICE } from './manifests.ts';
import type { Kubelet } from './kubelet.ts';
import type { LocalNode, Pod } from './node.ts';
import { listens, sh, sleep, waitFor } from '../proc.ts';

export class Services {
  /** ClusterIP of every Service that has one */
  readonly ips = new Map<string, string>();
  private listeners: (Listener & { svc: K8sObject })[] = [];
  private socket = '';
  /** listener/server pairs enabled in HAProxy */
  private enabled = new Set<string>();

  constructor(
    private readonly node: LocalNode,
    private readonly kubelet: Kubelet,
  ) {}

  /** The bridge, one namespace per pod, etcd, the Service stand-in, Jobs and (with backups) S3, and their hosts files. */
  buildNetwork(): void {
    const node = this.node;
    node.log(`network: bridge ${node.net.bridge} ${node.net.subnet}.0/24, one namespace per pod`);
    createBridge(node.net);
    node.state.bridge = node.net.bridge;
    node.save();
    node
      .services()
      .filter((s) => s.spec.clusterIP !== 'None')
      .forEach((s, i) => this.ips.set(s.metadata.name, `${node.net.subnet}.${100 + i}`));
    const mk = (ns: string, veth: string, addrs: string[]) => {
      node.state.namespaces.push(ns);
      node.save();
      createNamespace(ns, veth, node.net, addrs);
    };
    // Letters for the fixed namespaces: pod veths are `${name}v<index>`, so a digit here would collide (v3 = pod 3).
    const fixed: [string, string, string][] = [
      ['etcd', 'e', node.etcdIp],
      ['svc', 's', ''],
      ['job', 'j', node.jobIp],
    ];
    if (backupsRendered(node.objects)) fixed.push(['s3', 'b', node.s3Ip]);
    for (const [ns, letter, ip] of fixed) mk(`${node.name}-${ns}`, `${node.name}v${letter}`, ns === 'svc' ? [...this.ips.values()] : [ip]);
    for (const p of node.pods) mk(p.ns, p.veth, [p.ip]);
    const entries = this.dnsEntries();
    for (const [ns] of fixed) writeHosts(`${node.name}-${ns}`, undefined, undefined, entries);
    for (const p of node.pods) writeHosts(p.ns, p.name, p.ip, entries);
    writeFileSync(join(node.dir, 'hosts'), entries.map(([ip, names]) => `${ip}\t${names.join(' ')}`).join('\n') + '\n');
  }

  /** What cluster DNS would answer: Services (<svc>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local), headless Services to every pod IP, StatefulSet pods under their governing Service. */
  private dnsEntries(): [string, string[]][] {
    const node = this.node;
    const names = (n: string) => [n, `${n}.${node.namespace}`, `${n}.${node.namespace}.svc`, `${n}.${node.namespace}.svc.cluster.local`];
    const out: [string, string[]][] = [
      [node.etcdIp, names(ETCD_SERVICE)],
      [node.s3Ip, names(S3_SERVICE)],
    ];
    for (const svc of node.services()) {
      if (svc.spec.clusterIP === 'None') for (const p of node.selected(svc)) out.push([p.ip, names(svc.metadata.name)]);
      else out.push([this.ips.get(svc.metadata.name)!, names(svc.metadata.name)]);
    }
    for (const sts of node.objects.filter((o) => o.kind === 'StatefulSet' && o.spec.serviceName)) {
      for (const p of node.pods.filter((x) => x.owner === sts.metadata.name)) out.push([p.ip, names(`${p.name}.${sts.spec.serviceName}`)]);
    }
    return out;
  }

  /** HAProxy with one listener per Service port (every server disabled), kept running; then the endpoints loop. */
  async start(): Promise<void> {
    const node = this.node;
    this.listeners = [];
    for (const svc of node.services()) {
      if (svc.spec.clusterIP === 'None') continue;
      for (const port of svc.spec.ports ?? []) {
        this.listeners.push({
          svc,
          name: `${svc.metadata.name}-${port.port}`,
          bind: this.ips.get(svc.metadata.name)!,
          port: port.port,
          backends: node.selected(svc).map((p) => ({ name: p.name, ip: p.ip, port: resolvePort(port.targetPort ?? port.port, p.spec.containers) })),
        });
      }
    }
    const dir = join(node.dir, 'services');
    mkdirSync(dir, { recursive: true });
    sh('chown', ['postgres:postgres', dir]);
    const cfg = join(dir, 'haproxy.cfg');
    this.socket = join(dir, 'haproxy.sock');
    writeFileSync(cfg, haproxyConfig(this.listeners, { pidfile: join(dir, 'haproxy.pid'), socket: this.socket }));
    sh('haproxy', ['-c', '-q', '-f', cfg]);
    node.log(`Services: ${[...this.ips].map(([n, ip]) => `${n}=${ip}`).join(' ')}`);
    this.kubelet.keepRunning(() => {
      // A restarted HAProxy starts with every server disabled: the controller enables the endpoints again.
      this.enabled.clear();
      return this.kubelet.spawnIn(`${node.name}-svc`, ['haproxy', '-db', '-f', cfg], {}, join(dir, 'haproxy.log'), 'haproxy');
    });
    await waitFor(
      "HAProxy's runtime API",
      10_000,
      async () => existsSync(this.socket) && (await haproxyCommand(this.socket, 'show info')).includes('Name: HAProxy'),
      100,
    );
    void this.endpointsLoop();
  }

  /**
   * The endpoints controller and kube-proxy in one loop (every 100 ms): each listener's servers enabled exactly
   * while their pod is a ready endpoint whose labels (as the API server stand-in holds them) match the selector.
   */
  private async endpointsLoop(): Promise<void> {
    const node = this.node;
    while (!node.stopping) {
      for (const l of this.listeners) {
        for (const b of l.backends) {
          const key = `${l.name}/${b.name}`;
          const want = this.serves(l.svc, node.pod(b.name));
          if (want === this.enabled.has(key)) continue;
          try {
            await haproxyCommand(this.socket, `set server ${key} state ${want ? 'ready' : 'maint'}`);
            if (want) this.enabled.add(key);
            else this.enabled.delete(key);
          } catch {
            /* HAProxy restarting: the next round applies it */
          }
        }
      }
      await sleep(100);
    }
  }

  /** Whether the pod is a ready endpoint of the Service: Ready, and its labels now match the selector. */
  private serves(svc: K8sObject, pod: Pod): boolean {
    return this.kubelet.ready(pod) && selectorMatches(svc.spec.selector ?? {}, pod.labels);
  }

  /** The addresses of the Service's ready endpoints, as the endpoints loop enables them. */
  endpoints(service: string): string[] {
    const svc = this.node.services().find((s) => s.metadata.name === service);
    if (!svc) throw new Error(`no Service ${service}`);
    return this.node
      .selected(svc)
      .filter((p) => this.serves(svc, p))
      .map((p) => p.ip);
  }

  /** Pooler pods listen, and every Service in front of them answers the PostgreSQL protocol (has a ready endpoint). */
  async waitPoolers(pods: Pod[]): Promise<void> {
    for (const p of pods) {
      const ports = p.spec.containers.flatMap((c: any) => (c.ports ?? []).map((x: any) => x.containerPort as number));
      for (const port of ports) await waitFor(`${p.name} to listen on ${port}`, 60_000, () => listens(p.ip, port));
    }
    // The Service stand-in accepts connections before its health checks have marked a new pod up (a Service
    // without ready endpoints): a client connecting then is dropped at once. Ready means a protocol answer.
    for (const svc of this.node.services().filter((s) => this.ips.has(s.metadata.name))) {
      const backends = this.node.selected(svc).filter((p) => pods.includes(p));
      if (!backends.length) continue;
      for (const port of svc.spec.ports ?? []) {
        const target = resolvePort(port.targetPort ?? port.port, backends[0]!.spec.containers);
        if (!(await answersPostgres(backends[0]!.ip, target))) continue; // not a PostgreSQL port (metrics)
        await waitFor(`Service ${svc.metadata.name} to reach a pooler on ${port.port}`, 60_000, () =>
          answersPostgres(this.ips.get(svc.metadata.name)!, port.port),
        );
      }
    }
  }

  /** The Service a client of `service` uses: rw and ro are the poolers when rendered, the database Services otherwise. */
  name(e: { service: string; shard: string }): string {
    switch (e.service) {
      case 'primary':
        return `${e.shard}-primary`;
      case 'replicas':
        return `${e.shard}-replicas`;
      case 'rw':
        return this.ips.has(`${e.shard}-pgbouncer-rw`) ? `${e.shard}-pgbouncer-rw` : `${e.shard}-primary`;
      case 'ro':
        return this.ips.has(`${e.shard}-pgbouncer-ro`) ? `${e.shard}-pgbouncer-ro` : `${e.shard}-replicas`;
    }
    throw new Error(`unknown service ${e.service}`);
  }

  /** Whether the pods behind a Service speak TLS to clients: a PgBouncer says so in its ini (client_tls_sslmode). */
  clientTls(svc: K8sObject, postgresTls: boolean): boolean {
    const pod = this.node.selected(svc)[0];
    if (!pod || pod.kind === 'StatefulSet') return postgresTls;
    for (const v of pod.spec.volumes ?? []) {
      if (!v.configMap) continue;
      const ini = this.node.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === v.configMap.name)?.data?.['pgbouncer.ini'] as string | undefined;
      if (ini) return !/^\s*client_tls_sslmode\s*=\s*disable\s*$/m.test(ini) && /^\s*client_tls_sslmode\s*=/m.test(ini);
    }
    return postgresTls;
  }
}

/** Whether host:port answers a PostgreSQL SSLRequest (PostgreSQL and PgBouncer reply with one byte, S or N). */
function answersPostgres(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs }, () => s.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])));
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.on('data', (d) => done(d[0] === 0x53 || d[0] === 0x4e))
      .on('error', () => done(false))
      .on('timeout', () => done(false))
      .on('end', () => done(false));
  });
}
