// The kube backend: the cluster interface over kubectl against any context and namespace (kind, staging...).
// Every kubectl invocation is built by a pure method (`*Args`) so the construction is unit-tested here, where
// no Kubernetes API is reachable.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { toolPath } from '../tools.ts';
import { SWITCHOVER_SCRIPT, sleep, waitFor, type Cluster, type ConnectionInfo, type Endpoint, type Member, type Signal } from '../cluster.ts';

export type KubeOptions = { context: string; namespace: string; release?: string; kubectl?: string };
export type Runner = (args: string[], input?: string) => { status: number; stdout: string; stderr: string };

export const PATRONI_CONFIG = '/etc/patroni/patroni.yml';
export const ISOLATED_LABEL = 'pgfleet.io/isolated';
const SEP = '\x1f';

export class KubeCluster implements Cluster {
  readonly backend = 'kube' as const;
  private forwards = new Map<string, ChildProcess>();
  private run: Runner;

  constructor(readonly opts: KubeOptions, run?: Runner) {
    this.run = run ?? ((args, input) => {
      const r = spawnSync(opts.kubectl ?? toolPath('kubectl'), args, { encoding: 'utf8', input, maxBuffer: 64 << 20, timeout: 300_000 });
      return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error?.message ?? '') };
    });
  }

  /** Arguments every call starts with. */
  base(): string[] {
    return ['--context', this.opts.context, '--namespace', this.opts.namespace];
  }

  private kubectl(args: string[], input?: string): string {
    const full = [...this.base(), ...args];
    const r = this.run(full, input);
    if (r.status !== 0) throw new Error(`kubectl ${full.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  }

  private instanceSelector(component: string, extra: Record<string, string> = {}): string {
    const labels: Record<string, string> = { 'app.kubernetes.io/component': component, ...(this.opts.release ? { 'app.kubernetes.io/instance': this.opts.release } : {}), ...extra };
    return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  }

  shardsArgs(): string[] { return ['get', 'statefulsets', '-l', this.instanceSelector('database'), '-o', 'json']; }
  podsArgs(shard: string): string[] { return ['get', 'pods', '-l', `cluster-name=${shard}`, '-o', 'json']; }
  patronictlArgs(pod: string, args: string[]): string[] { return ['exec', pod, '-c', 'postgres', '--', 'patronictl', '-c', PATRONI_CONFIG, ...args]; }

  killArgs(pod: string, signal: Signal): string[] {
    // Pod deletion sends SIGTERM and waits the grace period; --grace-period=0 --force is the SIGKILL.
    return signal === 'SIGKILL' ? ['delete', 'pod', pod, '--grace-period=0', '--force', '--wait=false'] : ['delete', 'pod', pod, '--wait=false'];
  }

  /** Deny-all NetworkPolicy for an isolated pod (the chart's own policies skip pods carrying ISOLATED_LABEL). */
  isolationPolicy(pod: string): object {
    return {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
      metadata: { name: `pgfleet-drill-isolate-${pod}`.slice(0, 63), labels: { 'pgfleet.io/drill': 'isolate' } },
      spec: { podSelector: { matchLabels: { 'statefulset.kubernetes.io/pod-name': pod, [ISOLATED_LABEL]: 'true' } }, policyTypes: ['Ingress', 'Egress'], ingress: [], egress: [] },
    };
  }

  partitionArgs(pod: string): string[][] {
    return [['apply', '-f', '-'], ['label', 'pod', pod, `${ISOLATED_LABEL}=true`, '--overwrite']];
  }

  healArgs(): string[][] {
    return [['delete', 'networkpolicy', '-l', 'pgfleet.io/drill=isolate', '--ignore-not-found'], ['label', 'pods', '-l', ISOLATED_LABEL, `${ISOLATED_LABEL}-`]];
  }

  /** The chart's switchover script on the leader: poolers paused around Patroni's switchover (clients wait, none fail). */
  switchoverArgs(leader: string, candidate: string): string[] {
    return ['exec', leader, '-c', 'postgres', '--', SWITCHOVER_SCRIPT, '--candidate', candidate];
  }

  /** psql inside the pod as the superuser over the Unix socket (passwords from the container's own env). */
  memberSqlArgs(pod: string, query: string, database: string): string[] {
    return ['exec', pod, '-c', 'postgres', '--', 'sh', '-c',
      'PGPASSWORD="$PATRONI_SUPERUSER_PASSWORD" exec psql -X -q -A -t -F "$0" -v ON_ERROR_STOP=1 -h /var/run/postgresql -d "$1" -c "$2"', SEP, database, query];
  }

  wipeArgs(pod: string): string[][] {
    // The StatefulSet recreates the pod with a fresh claim from its volumeClaimTemplate.
    return [['delete', 'pvc', `data-${pod}`, '--wait=false'], ['delete', 'pod', pod, '--wait=true']];
  }

  portForwardArgs(service: string, port: number): string[] {
    return [...this.base(), 'port-forward', `service/${service}`, `:${port}`];
  }

  async shards(): Promise<string[]> {
    return JSON.parse(this.kubectl(this.shardsArgs())).items.map((s: any) => s.metadata.name).sort();
  }

  private pods(shard: string): any[] {
    return JSON.parse(this.kubectl(this.podsArgs(shard))).items;
  }

  async members(shard?: string): Promise<Member[]> {
    const out: Member[] = [];
    for (const s of shard ? [shard] : await this.shards()) {
      const pods = this.pods(s);
      let list: any[] = [];
      for (const p of pods.filter((x) => x.status?.phase === 'Running')) {
        try { list = JSON.parse(this.kubectl(this.patronictlArgs(p.metadata.name, ['list', '--format', 'json']))); break; } catch { /* next pod */ }
      }
      for (const p of pods) {
        const m = list.find((x) => x.Member === p.metadata.name);
        const role = m ? (/leader/i.test(m.Role) ? 'primary' : 'replica') : 'unknown';
        out.push({ name: p.metadata.name, shard: s, role, state: m?.State ?? (p.status?.phase ?? 'unknown').toLowerCase(), host: p.status?.podIP ?? '', timeline: m?.TL, lag: typeof m?.['Lag in MB'] === 'number' ? m['Lag in MB'] << 20 : undefined, sync: /sync/i.test(m?.Role ?? '') });
      }
    }
    return out;
  }

  async primary(shard: string): Promise<Member | undefined> {
    return (await this.members(shard)).find((m) => m.role === 'primary');
  }

  async dynamicConfig(shard: string): Promise<Record<string, any>> {
    const pod = this.pods(shard).find((p) => p.status?.phase === 'Running');
    if (!pod) throw new Error(`no running pod in ${shard}`);
    return parseYaml(this.kubectl(this.patronictlArgs(pod.metadata.name, ['show-config'])));
  }

  async poolers(shard: string, pool?: 'rw' | 'ro'): Promise<string[]> {
    const sts = JSON.parse(this.kubectl(['get', 'statefulset', shard, '-o', 'json']));
    const idx = sts.metadata.labels?.['pgfleet.io/shard'];
    const sel = this.instanceSelector('pgbouncer', { 'pgfleet.io/shard': idx, ...(pool ? { 'pgfleet.io/pool': pool } : {}) });
    return JSON.parse(this.kubectl(['get', 'pods', '-l', sel, '-o', 'json'])).items.map((p: any) => p.metadata.name);
  }

  async kill(pod: string, signal: Signal): Promise<void> {
    this.kubectl(this.killArgs(pod, signal));
  }

  async start(pod: string): Promise<void> {
    // The controller recreates a deleted pod by itself: wait until it is Ready again.
    await waitFor(`${pod} to be recreated`, 300_000, async () => this.run([...this.base(), 'get', 'pod', pod]).status === 0, 1000);
    this.kubectl(['wait', '--for=condition=Ready', `pod/${pod}`, '--timeout=300s']);
  }

  async partition(pod: string): Promise<void> {
    const [apply, label] = this.partitionArgs(pod);
    this.kubectl(apply!, JSON.stringify(this.isolationPolicy(pod)));
    this.kubectl(label!);
  }

  async heal(): Promise<void> {
    for (const a of this.healArgs()) this.kubectl(a);
  }

  async switchover(shard: string, candidate?: string): Promise<string> {
    const ms = await this.members(shard);
    const leader = ms.find((m) => m.role === 'primary');
    if (!leader) throw new Error(`shard ${shard} has no primary`);
    const target = candidate ?? (ms.find((m) => m.sync) ?? ms.find((m) => m.role === 'replica'))?.name;
    if (!target) throw new Error(`shard ${shard} has no replica to switch over to`);
    this.kubectl(this.switchoverArgs(leader.name, target));
    return target;
  }

  private serviceFor(e: { service: string; shard: string }): { name: string; port: number } {
    const exists = (n: string) => this.run([...this.base(), 'get', 'service', n]).status === 0;
    if (e.service === 'rw' && exists(`${e.shard}-pgbouncer-rw`)) return { name: `${e.shard}-pgbouncer-rw`, port: 6432 };
    if (e.service === 'ro' && exists(`${e.shard}-pgbouncer-ro`)) return { name: `${e.shard}-pgbouncer-ro`, port: 6432 };
    return { name: `${e.shard}-${e.service === 'rw' || e.service === 'primary' ? 'primary' : 'replicas'}`, port: 5432 };
  }

  private credCache = new Map<string, { user: string; password: string; database: string; ca?: string }>();

  private credentials(shard: string): { user: string; password: string; database: string; ca?: string } {
    const cached = this.credCache.get(shard);
    if (cached) return cached;
    const pod = this.pods(shard)[0];
    const env = Object.fromEntries(this.kubectl(['exec', pod.metadata.name, '-c', 'postgres', '--', 'env']).split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const script = this.kubectl(['exec', pod.metadata.name, '-c', 'postgres', '--', 'cat', '/opt/pgfleet/scripts/post-bootstrap.sh']);
    const user = /app_user="?([a-z_][a-z0-9_]*)"?/.exec(script)?.[1];
    const database = /app_db="?([a-z_][a-z0-9_]*)"?/.exec(script)?.[1];
    if (!user || !database) throw new Error('post-bootstrap.sh names no app_user / app_db');
    const ca = this.run([...this.base(), 'exec', pod.metadata.name, '-c', 'postgres', '--', 'cat', '/etc/pgfleet/tls/ca.crt']);
    const cred = { user, database, password: env.PGFLEET_APP_PASSWORD ?? '', ca: ca.status === 0 ? ca.stdout : undefined };
    this.credCache.set(shard, cred);
    return cred;
  }

  /** A fresh port-forward per call: kubectl binds a Service forward to one pod, so a client reconnecting after a failover needs a new one. */
  async connection(endpoint: Endpoint): Promise<ConnectionInfo> {
    if ('member' in endpoint) throw new Error('kube backend: clients reach Services, not members (use sql() for a member)');
    const svc = this.serviceFor(endpoint);
    this.forwards.get(svc.name)?.kill();
    const child = spawn(this.opts.kubectl ?? toolPath('kubectl'), this.portForwardArgs(svc.name, svc.port), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.forwards.set(svc.name, child);
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => { out += d; const m = /127\.0\.0\.1:(\d+)/.exec(out); if (m) resolve(Number(m[1])); });
      child.on('exit', (code) => reject(new Error(`kubectl port-forward service/${svc.name} exited ${code}`)));
      setTimeout(() => reject(new Error(`kubectl port-forward service/${svc.name}: no port after 15 s`)), 15_000);
    });
    const cred = this.credentials(endpoint.shard);
    return { host: '127.0.0.1', port, ...cred, tls: svc.port === 5432 ? Boolean(cred.ca) : this.poolerTls(svc.name) };
  }

  /** A PgBouncer's client TLS mode, from its rendered ini (ConfigMap named like its Service). */
  poolerTls(service: string): boolean {
    const r = this.run([...this.base(), 'get', 'configmap', service, '-o', 'jsonpath={.data.pgbouncer\\.ini}']);
    const ini = r.status === 0 ? r.stdout : '';
    return /^\s*client_tls_sslmode\s*=/m.test(ini) && !/^\s*client_tls_sslmode\s*=\s*disable\s*$/m.test(ini);
  }

  async writeEndpoint(shard: string): Promise<Endpoint> {
    return { service: 'rw', shard };
  }

  async sql(endpoint: Endpoint, query: string, opts: { timeoutMs?: number; database?: string } = {}): Promise<string[][]> {
    let pod: string;
    if ('member' in endpoint) pod = endpoint.member;
    else {
      const p = endpoint.service === 'primary' || endpoint.service === 'rw' ? await this.primary(endpoint.shard) : (await this.members(endpoint.shard)).find((m) => m.role === 'replica');
      if (!p) throw new Error(`no ${endpoint.service} member in ${endpoint.shard}`);
      pod = p.name;
    }
    const shard = 'member' in endpoint ? pod.replace(/-\d+$/, '') : endpoint.shard;
    const db = opts.database ?? this.credentials(shard).database;
    const r = this.run([...this.base(), '--request-timeout', `${Math.ceil((opts.timeoutMs ?? 30_000) / 1000)}s`, ...this.memberSqlArgs(pod, query, db)]);
    if (r.status !== 0) throw new Error(`psql in ${pod} failed: ${r.stderr.trim()}`);
    return r.stdout.split('\n').filter(Boolean).map((l) => l.split(SEP));
  }

  async wipe(pod: string): Promise<void> {
    for (const a of this.wipeArgs(pod)) this.kubectl(a);
    await sleep(1000);
    await this.start(pod);
  }

  async backupsEnabled(): Promise<boolean> {
    return JSON.parse(this.kubectl(['get', 'cronjobs', '-l', this.instanceSelector('backup'), '-o', 'json'])).items.length > 0;
  }

  backupJobArgs(cronjob: string, job: string): string[][] {
    return [['create', 'job', job, `--from=cronjob/${cronjob}`], ['wait', '--for=condition=complete', `job/${job}`, '--timeout=900s']];
  }

  async backup(shard: string, type: 'full' | 'diff' | 'incr' = 'full'): Promise<string> {
    const cjs = JSON.parse(this.kubectl(['get', 'cronjobs', '-l', this.instanceSelector('backup'), '-o', 'json'])).items.map((c: any) => c.metadata.name as string);
    const cj = cjs.find((n: string) => n.startsWith(shard) && n.endsWith(type)) ?? cjs.find((n: string) => n.startsWith(shard));
    if (!cj) throw new Error(`no backup CronJob for ${shard} (found: ${cjs.join(', ') || 'none'})`);
    const job = `${cj}-drill-${Date.now().toString(36)}`.slice(0, 63);
    for (const a of this.backupJobArgs(cj, job)) this.kubectl(a);
    return job;
  }

  async restore(shard: string): Promise<void> {
    throw new Error(`restore of ${shard} on a real cluster is a helm upgrade with restore values; the kube backend does not run it`);
  }

  async close(): Promise<void> {
    for (const c of this.forwards.values()) c.kill();
    this.forwards.clear();
  }
}
