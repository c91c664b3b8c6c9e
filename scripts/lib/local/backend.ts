// The local backend: the chart's cluster as real processes on one Linux machine. Everything it runs comes from
// the rendered manifests (helm template with the user's values + etcd3 DCS): Patroni/PostgreSQL from the
// StatefulSets, poolers from the Deployments, Services as HAProxy listeners, Secrets and ConfigMaps as files.
// LocalCluster puts the parts together behind the Cluster interface: manifests.ts (chart to pods), kubelet.ts
// (containers), services.ts (network, DNS, Services), apiserver.ts (the pods' label patches), daemons.ts (etcd, S3)
// and patroni.ts (members, SQL).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { root } from '../tools.ts';
import { clientConfig, type Cluster, type ConnectionInfo, type Endpoint, type Member, type Signal } from '../cluster.ts';
import { appCredentials, type AppCredentials } from '../contract.ts';
import { objectData } from './pod.ts';
import { isolate, unisolate } from './net.ts';
import { alive, loadState, running, stateRoot, teardown } from './state.ts';
import { requireLocalPrerequisites } from './packages.ts';
import { publishEndpoints, type LocalEndpoint, type PublishedService, type ServiceKind } from './access.ts';
import { LocalNode, type LocalOptions } from './node.ts';
import { backupJob, backupsRendered, dcsPrefix, planPods, renderManifests, SECRETS_FILE } from './manifests.ts';
import { Kubelet } from './kubelet.ts';
import { Services } from './services.ts';
import { ApiServer } from './apiserver.ts';
import { deleteDcsKeys, startEtcd, startS3 } from './daemons.ts';
import * as patroni from './patroni.ts';
import { waitFor } from '../proc.ts';

export type { LocalOptions } from './node.ts';

export class LocalCluster implements Cluster {
  readonly backend = 'local' as const;
  readonly name: string;
  readonly dir: string;
  readonly namespace: string;
  private readonly node: LocalNode;
  private readonly kubelet: Kubelet;
  private readonly svc: Services;
  private readonly api: ApiServer;
  private jobs = 0;
  private published: LocalEndpoint[] = [];

  private constructor(opts: LocalOptions) {
    this.node = new LocalNode(opts);
    this.api = new ApiServer(this.node);
    this.kubelet = new Kubelet(this.node, this.api);
    this.svc = new Services(this.node, this.kubelet);
    ({ name: this.name, dir: this.dir, namespace: this.namespace } = this.node);
  }

  /** Renders the chart, builds the network and starts every process; resolves when every shard is healthy. */
  static async up(opts: LocalOptions = {}): Promise<LocalCluster> {
    requireLocalPrerequisites();
    const c = new LocalCluster(opts);
    const node = c.node;
    const stale = loadState(c.name);
    if (stale?.owner && stale.owner !== process.pid && alive(stale.owner) && running(stale)) {
      throw new Error(`a local cluster named ${c.name} is already running (PID ${stale.owner}): stop it first, or pick another --name`);
    }
    if (stale && running(stale)) {
      node.log(`cleaning up what a previous run of ${c.name} left running`);
      await teardown(stale, { keepData: true });
    }
    if (!opts.persist) rmSync(c.dir, { recursive: true, force: true });
    else if (existsSync(join(c.dir, SECRETS_FILE)))
      node.log(`reusing the data and credentials kept in ${c.dir} (npm run local -- down ${c.name} --purge wipes them)`);
    node.state = {
      name: c.name,
      dir: c.dir,
      namespaces: [],
      pids: [],
      startedAt: new Date().toISOString(),
      owner: process.pid,
      persist: Boolean(opts.persist),
    };
    node.save();
    c.startReaper();
    try {
      planPods(node);
      c.svc.buildNetwork();
      await c.api.start();
      await startEtcd(node, c.kubelet);
      await startS3(node, c.kubelet);
      await c.svc.start();
      for (const p of node.pods.filter((p) => p.kind === 'StatefulSet')) await c.kubelet.startPod(p);
      await c.waitHealthy(opts.readyTimeoutS ?? 180);
      const poolers = node.pods.filter((p) => p.kind === 'Deployment');
      for (const p of poolers) await c.kubelet.startPod(p);
      await c.svc.waitPoolers(poolers);
      await c.publishEndpoints();
    } catch (err) {
      // Processes, namespaces and bridge go; the logs stay under .local/<name> for a look (the next run clears them).
      await c.down({ keepData: true });
      throw err;
    }
    return c;
  }

  /** The reaper tears the cluster down if this process goes without doing so (scripts/lib/local/reaper.ts). */
  private startReaper(): void {
    const fd = openSync(join(this.dir, 'reaper.log'), 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'lib', 'local', 'reaper.ts'), this.name, String(process.pid)], {
      cwd: root,
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, PGFLEET_LOCAL_DIR: stateRoot() },
    });
    closeSync(fd);
    child.unref();
  }

  async waitHealthy(timeoutS = 180): Promise<void> {
    for (const shard of await this.shards()) await patroni.waitShardHealthy(this.node, shard, timeoutS);
  }

  // ---- Cluster interface -------------------------------------------------------------------------------------

  async shards(): Promise<string[]> {
    return [...new Set(this.node.dbPods().map((p) => p.shard!))];
  }

  async members(shard?: string): Promise<Member[]> {
    const out: Member[] = [];
    for (const s of shard ? [shard] : await this.shards()) out.push(...(await patroni.members(this.node, s)));
    return out;
  }

  async primary(shard: string): Promise<Member | undefined> {
    return (await this.members(shard)).find((m) => m.role === 'primary');
  }

  async dynamicConfig(shard: string): Promise<Record<string, any>> {
    return patroni.dynamicConfig(this.node, shard);
  }

  async poolers(shard: string, pool?: 'rw' | 'ro'): Promise<string[]> {
    return this.node.pods
      .filter(
        (p) =>
          p.kind === 'Deployment' &&
          p.shard === shard &&
          p.labels['app.kubernetes.io/component'] === 'pgbouncer' &&
          (pool === undefined || p.labels['pgfleet.io/pool'] === pool),
      )
      .map((p) => p.name);
  }

  async kill(pod: string, signal: Signal): Promise<void> {
    await this.kubelet.stopPod(this.node.pod(pod), signal);
  }

  async start(pod: string): Promise<void> {
    const p = this.node.pod(pod);
    if (!p.down) return;
    await this.kubelet.startPod(p);
    // A pooler is back when it is Ready again (in its Services), as `kubectl rollout status` would say.
    if (p.kind === 'Deployment') {
      await this.svc.waitPoolers([p]);
      await waitFor(`${p.name} to be Ready`, 60_000, async () => this.kubelet.ready(p), 100);
    }
  }

  async freeze(pod: string): Promise<void> {
    this.kubelet.signal(this.node.pod(pod), 'SIGSTOP');
  }

  async thaw(pod: string): Promise<void> {
    this.kubelet.signal(this.node.pod(pod), 'SIGCONT');
  }

  /** The local tier's control plane is etcd, its DCS, and the API server stand-in: neither answers until the thaw. */
  async freezeControlPlane(): Promise<void> {
    this.kubelet.signalNamespace(this.node.etcdNs, 'SIGSTOP');
    this.api.freeze();
  }

  async thawControlPlane(): Promise<void> {
    this.api.thaw();
    this.kubelet.signalNamespace(this.node.etcdNs, 'SIGCONT');
  }

  async primaryEndpoints(shard: string): Promise<string[]> {
    return this.svc.endpoints(`${shard}-primary`);
  }

  async partition(pod: string): Promise<void> {
    isolate(this.node.pod(pod).ns);
  }

  async heal(): Promise<void> {
    for (const p of this.node.pods) unisolate(p.ns);
  }

  async switchover(shard: string, candidate?: string): Promise<string> {
    return patroni.switchover(this.node, this.kubelet, shard, candidate);
  }

  async exec(
    pod: string,
    argv: string[],
    opts: { timeoutMs?: number; env?: Record<string, string>; container?: string } = {},
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return this.kubelet.exec(this.node.pod(pod), argv, opts);
  }

  private appCredentials(): AppCredentials {
    return appCredentials(this.kubelet.view(this.node.dbPods()[0]!).env);
  }

  /** The CA of the database pods' TLS Secret, if they mount one. */
  private tlsCa(): string | undefined {
    for (const v of this.node.dbPods()[0]!.spec.volumes ?? []) {
      if (!v.secret?.secretName) continue;
      const data = objectData(this.node.objects, 'Secret', v.secret.secretName);
      if (data['ca.crt']) return data['ca.crt'].toString();
    }
    return undefined;
  }

  async connection(endpoint: Endpoint): Promise<ConnectionInfo> {
    const { user, database, password } = this.appCredentials();
    const ca = this.tlsCa();
    if ('member' in endpoint) return { host: this.node.pod(endpoint.member).ip, port: 5432, user, database, password, ca, tls: Boolean(ca) };
    const name = this.svc.name(endpoint);
    const svc = this.node.services().find((s) => s.metadata.name === name);
    if (!svc) throw new Error(`Service ${name} is not rendered`);
    return { host: this.svc.ips.get(name)!, port: svc.spec.ports[0].port, user, database, password, ca, tls: this.svc.clientTls(svc, Boolean(ca)) };
  }

  async writeEndpoint(shard: string): Promise<Endpoint> {
    return { service: 'rw', shard };
  }

  async sql(endpoint: Endpoint, query: string, opts: { timeoutMs?: number; database?: string } = {}): Promise<string[][]> {
    if ('member' in endpoint)
      return patroni.memberSql(this.kubelet, this.node.pod(endpoint.member), query, opts.database ?? this.appCredentials().database, opts.timeoutMs);
    const info = await this.connection(endpoint);
    const client = new pg.Client({ ...clientConfig(info), database: opts.database ?? info.database, query_timeout: opts.timeoutMs ?? 30_000 });
    client.on('error', () => {
      /* surfaces through the pending call */
    });
    await client.connect();
    try {
      const r = await client.query({ text: query, rowMode: 'array' });
      const rows = Array.isArray(r) ? r.at(-1)!.rows : r.rows;
      return rows.map((row: unknown[]) => row.map((v) => (v === null ? '' : v instanceof Date ? v.toISOString() : String(v))));
    } finally {
      await client.end().catch(() => {});
    }
  }

  async wipe(pod: string): Promise<void> {
    const p = this.node.pod(pod);
    await this.kubelet.stopPod(p, 'SIGKILL');
    for (const f of readdirSync(p.dir)) if (f.startsWith('pvc-')) rmSync(join(p.dir, f), { recursive: true, force: true });
    await this.kubelet.startPod(p);
  }

  async backupsEnabled(): Promise<boolean> {
    return backupsRendered(this.node.objects);
  }

  /** Runs the shard's backup CronJob once (the Job its jobTemplate describes), as the CronJob controller would. */
  async backup(shard: string, type: 'full' | 'diff' | 'incr' = 'full'): Promise<string> {
    const { cronJob, spec, labels } = backupJob(this.node.objects, shard, type);
    const name = `${cronJob}-${++this.jobs}`;
    this.node.log(`job ${name}: ${type} backup of ${shard}`);
    const out = await this.kubelet.runJob(name, spec, labels);
    return /new backup label = (\S+)/.exec(out)?.[1] ?? name;
  }

  /**
   * Point-in-time restore in place, the way a user would do it with the chart: `helm upgrade` with restore values
   * (restore.enabled, target time) after deleting the shard's volumes and DCS state; Patroni bootstraps the
   * shard with its custom bootstrap (pgbackrest restore), replicas follow.
   */
  async restore(shard: string, target: Date): Promise<void> {
    const time = target.toISOString().replace('T', ' ').replace('Z', '+00');
    const objects = renderManifests(this.node, { 'restore.enabled': true, 'restore.target.type': 'time', 'restore.target.time': time });
    const pods = this.node.dbPods(shard);
    this.node.log(`restore ${shard} to ${time}: stopping its members, deleting their volumes and DCS keys`);
    // Forced deletion (no preStop hooks): these members are wiped, a handover between them would only add churn.
    for (const p of pods) await this.kubelet.stopPod(p, 'SIGTERM', false);
    for (const p of pods) for (const f of readdirSync(p.dir)) if (f.startsWith('pvc-')) rmSync(join(p.dir, f), { recursive: true, force: true });
    const prefix = `${dcsPrefix(objects, shard)}${shard}/`;
    this.node.log(`deleted ${deleteDcsKeys(this.node, prefix)} DCS keys under ${prefix}`);
    this.node.objects = objects;
    const sts = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === shard)!;
    for (const p of pods) p.spec = sts.spec.template.spec;
    for (const p of pods) await this.kubelet.startPod(p);
    await this.waitHealthy(this.node.opts.readyTimeoutS ?? 300);
  }

  /** Nothing to close: every client the local backend opens is ended by the call that opened it. */
  async close(): Promise<void> {}

  /** Publishes every shard's Services for clients on this machine (access.ts). */
  private async publishEndpoints(): Promise<void> {
    const services: PublishedService[] = [];
    for (const shard of await this.shards()) {
      for (const kind of ['rw', 'ro', 'primary', 'replicas'] as ServiceKind[]) {
        const service = this.svc.name({ service: kind, shard });
        if ((kind === 'rw' || kind === 'ro') && service === this.svc.name({ service: kind === 'rw' ? 'primary' : 'replicas', shard })) continue;
        services.push({ shard, kind, service, connection: await this.connection({ service: kind, shard }) });
      }
    }
    this.published = publishEndpoints(this.node.state, this.namespace, this.tlsCa(), services);
  }

  /** The endpoints up() published (connection strings that work verbatim from this machine). */
  endpoints(): LocalEndpoint[] {
    return this.published;
  }

  /** Stops every process, removes namespaces, bridge and directories. */
  async down(opts: { keepData?: boolean } = {}): Promise<void> {
    const node = this.node;
    node.stopping = true;
    for (const p of node.pods) p.down = true;
    await this.api.stop();
    // A persistent cluster keeps its data; PGFLEET_KEEP_LOGS=1 keeps any cluster's directory (pod logs, data).
    if (node.state) await teardown(node.state, { keepData: opts.keepData ?? (node.state.persist || Boolean(process.env.PGFLEET_KEEP_LOGS)) });
  }
}
