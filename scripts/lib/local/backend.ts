// The local backend: the chart's cluster as real processes on one Linux machine. Everything it runs comes from
// the rendered manifests (helm template with the user's values + etcd3 DCS): Patroni/PostgreSQL from the
// StatefulSets, poolers from the Deployments, Services as HAProxy listeners, Secrets and ConfigMaps as files.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { randomBytes } from 'node:crypto';
import { render, type K8sObject } from '../helm.ts';
import { chartDir, root } from '../tools.ts';
import { clientConfig, sleep, waitFor, type Cluster, type ConnectionInfo, type Endpoint, type Member, type Signal } from '../cluster.ts';
import { appCredentials, SWITCHOVER_SCRIPT, type AppCredentials } from '../contract.ts';
import { containerEnv, expand, materialiseVolumes, objectData, resolvePort, selectorMatches, type MountMap } from './pod.ts';
import { createBridge, createNamespace, isolate, planNet, setHostsBlock, sh, unisolate, writeHosts, namespacePids, type NetPlan } from './net.ts';
import { haproxyCommand, haproxyConfig, type Listener } from './haproxy.ts';
import { Readiness, dcsView, probeOnce, roleLabel } from './endpoints.ts';
import { alive, loadState, running, saveState, stateDir, stateRoot, teardown, type State } from './state.ts';
import { INSTALL_HINT, requireLocalPrerequisites } from './packages.ts';
import { CA_FILE, CONTAINER_PATH, ENDPOINTS_FILE, mainPidOf, type LocalEndpoint, type ServiceKind } from './access.ts';
import { S3RVER, s3rverScript } from '../s3rver.ts';

export type LocalOptions = {
  /** cluster name: state dir .local/<name>, namespace and bridge prefix */
  name?: string;
  values?: string[];
  set?: Record<string, string | number | boolean>;
  release?: string;
  namespace?: string;
  /** third octet of 10.213.X.0/24 (default: derived from the name, 30-89) */
  octet?: number;
  log?: (line: string) => void;
  /** seconds to wait for every shard to be healthy */
  readyTimeoutS?: number;
  /** chart directory (default: this checkout's charts/pgfleet) */
  chart?: string;
  /**
   * Keep data volumes, the DCS, the S3 store and generated credentials across down()/up() like a database
   * (`npm start`); otherwise every up() starts empty and down() removes everything.
   */
  persist?: boolean;
};

type Pod = {
  name: string;
  kind: 'StatefulSet' | 'Deployment' | 'Job';
  owner: string;
  /** shard (= Patroni scope) of database and pooler pods */
  shard?: string;
  /** the pod's labels now (the template's, plus Patroni's `role` on database pods) */
  labels: Record<string, string>;
  templateLabels: Record<string, string>;
  spec: any;
  ns: string;
  veth: string;
  ip: string;
  dir: string;
  procs: Map<string, ChildProcess>;
  down: boolean;
  /** bumped at every start and stop: a restart scheduled for an earlier incarnation of the pod never fires */
  generation: number;
  /** containers this incarnation runs (a container whose binary is missing is skipped), and their readiness */
  readiness: Map<string, Readiness>;
  /** DCS revision when the pod was created: member keys older than this were written by an earlier incarnation */
  minRevision: number;
  terminationGraceS: number;
};

const POSTGRES_UID = () => Number(sh('id', ['-u', 'postgres']).stdout.trim());
const POSTGRES_GID = () => Number(sh('id', ['-g', 'postgres']).stdout.trim());
const DROP = ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', '--'];
// Patroni's virtualenv first: its patroni, and the python3 the chart's scripts run (`#!/usr/bin/env python3`).
const PATH = CONTAINER_PATH();
const ETCD_SERVICE = 'etcd';
const S3_SERVICE = 's3rver';
const S3_PORT = S3RVER.port;
const S3_SECRET = 'pgfleet-local-s3';
const CIPHER_SECRET = 'pgfleet-local-cipher';
const S3_KEY = S3RVER.key;
/** Secret data kept across renders (and runs, when persistent): what `lookup` gives the chart on a real cluster. */
const SECRETS_FILE = 'secrets.json';

export class LocalCluster implements Cluster {
  readonly backend = 'local' as const;
  readonly name: string;
  readonly dir: string;
  readonly namespace: string;
  private state!: State;
  private net!: NetPlan;
  private objects: K8sObject[] = [];
  private pods: Pod[] = [];
  private svcIps = new Map<string, string>();
  private etcdIp = '';
  private get s3Ip() { return `${this.net.subnet}.3`; }
  private get jobIp() { return `${this.net.subnet}.4`; }
  private jobs = 0;
  private listeners: (Listener & { svc: K8sObject })[] = [];
  private haproxySocket = '';
  /** listener/server pairs enabled in HAProxy */
  private enabled = new Set<string>();
  private dcsRevision = 0;
  private published: LocalEndpoint[] = [];
  private stopping = false;
  private clients: pg.Client[] = [];
  private log: (line: string) => void;
  private opts: LocalOptions;

  private constructor(opts: LocalOptions) {
    this.opts = opts;
    this.name = opts.name ?? 'pgfleet';
    if (!/^[a-z][a-z0-9]{0,7}$/.test(this.name)) throw new Error(`local cluster name ${this.name}: 1-8 lowercase letters/digits (it prefixes interface names)`);
    this.dir = stateDir(this.name);
    this.namespace = opts.namespace ?? 'pgfleet';
    this.log = opts.log ?? (() => {});
  }

  /** Renders the chart, builds the network and starts every process; resolves when every shard is healthy. */
  static async up(opts: LocalOptions = {}): Promise<LocalCluster> {
    requireLocalPrerequisites();
    const c = new LocalCluster(opts);
    const stale = loadState(c.name);
    if (stale?.owner && stale.owner !== process.pid && alive(stale.owner) && running(stale)) {
      throw new Error(`a local cluster named ${c.name} is already running (PID ${stale.owner}): stop it first, or pick another --name`);
    }
    if (stale && running(stale)) { c.log(`cleaning up what a previous run of ${c.name} left running`); await teardown(stale, { keepData: true }); }
    if (!opts.persist) rmSync(c.dir, { recursive: true, force: true });
    else if (existsSync(join(c.dir, SECRETS_FILE))) c.log(`reusing the data and credentials kept in ${c.dir} (npm run local -- down ${c.name} --purge wipes them)`);
    c.state = { name: c.name, dir: c.dir, namespaces: [], pids: [], startedAt: new Date().toISOString(), owner: process.pid, persist: Boolean(opts.persist) };
    saveState(c.state);
    c.startReaper();
    try {
      c.planPods();
      c.buildNetwork();
      await c.startEtcd();
      await c.runS3();
      await c.startServices();
      for (const p of c.pods.filter((p) => p.kind === 'StatefulSet')) await c.startPod(p);
      await c.waitHealthy(opts.readyTimeoutS ?? 180);
      for (const p of c.pods.filter((p) => p.kind === 'Deployment')) await c.startPod(p);
      await c.waitPoolers();
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
      cwd: root, detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, PGFLEET_LOCAL_DIR: stateRoot() },
    });
    closeSync(fd);
    child.unref();
  }

  // ---- rendering -------------------------------------------------------------------------------------------

  /** What Kubernetes would be told on top of the user's values: etcd3 as the DCS, the local S3 store for backups. */
  private overrides(extra: Record<string, string | number | boolean> = {}): Record<string, string | number | boolean> {
    const set: Record<string, string | number | boolean> = { ...(this.opts.set ?? {}), 'patroni.dcs.type': 'etcd3', 'patroni.dcs.etcd3.hosts': `{${ETCD_SERVICE}:2379}`, 'patroni.dcs.etcd3.protocol': 'http' };
    const schema = JSON.parse(readFileSync(join(this.opts.chart ?? chartDir, 'values.schema.json'), 'utf8'));
    if (schema.properties?.backups?.properties?.s3) {
      // The repository is the local s3rver (TLS, self-signed, path-style); its keys and the cipher passphrase live
      // in Secrets the user would have created (synthesised below, never in values).
      Object.assign(set, {
        'backups.s3.endpoint': S3_SERVICE, 'backups.s3.port': S3_PORT, 'backups.s3.bucket': 'pgfleet', 'backups.s3.region': 'us-east-1',
        'backups.s3.uriStyle': 'path', 'backups.s3.verifyTls': false, 'backups.s3.keyType': 'shared', 'backups.s3.existingSecret': S3_SECRET,
        'backups.encryption.existingSecret': CIPHER_SECRET,
      });
    }
    return { ...set, ...extra };
  }

  private renderManifests(extra: Record<string, string | number | boolean> = {}): K8sObject[] {
    this.log(`rendering the chart (helm template, etcd3 DCS${Object.keys(extra).length ? `, ${Object.entries(extra).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''})`);
    const r = render({ values: this.opts.values, set: this.overrides(extra), release: this.opts.release ?? 'db', namespace: this.namespace, chart: this.opts.chart });
    // Kubernetes reads manifests as YAML 1.1 (defaultMode: 0640 is octal there, decimal 640 in YAML 1.2).
    const objects = parseAllDocuments(r.text, { version: '1.1' }).map((d) => d.toJS()).filter(Boolean) as K8sObject[];
    const secret = (name: string, data: Record<string, string>): K8sObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });
    if (objects.some((o) => JSON.stringify(o).includes(S3_SECRET))) objects.push(secret(S3_SECRET, { 'access-key-id': S3_KEY, 'secret-access-key': S3_KEY }));
    if (objects.some((o) => JSON.stringify(o).includes(CIPHER_SECRET))) objects.push(secret(CIPHER_SECRET, { 'cipher-pass': randomBytes(24).toString('base64url') }));
    // helm upgrade semantics: Secrets the chart generates with `lookup` (credentials, the CA) keep their data, within
    // a run and, for a persistent cluster, across runs.
    const file = join(this.dir, SECRETS_FILE);
    const kept: Record<string, Record<string, string>> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
    // (Secrets rendered as stringData are templates of other values, rendered afresh like any manifest.)
    for (const o of objects.filter((x) => x.kind === 'Secret' && x.data && !x.stringData)) {
      const before = kept[o.metadata.name];
      if (before) o.data = before;
      kept[o.metadata.name] = o.data;
    }
    writeFileSync(file, JSON.stringify(kept), { mode: 0o600 });
    writeFileSync(join(this.dir, 'manifests.yaml'), objects.map((o) => JSON.stringify(o)).join('\n---\n'), { mode: 0o600 });
    return objects;
  }

  private planPods(): void {
    this.objects = this.renderManifests();
    const stsByShardLabel = new Map<string, string>();
    for (const sts of this.objects.filter((o) => o.kind === 'StatefulSet')) {
      const label = sts.spec.template.metadata?.labels?.['pgfleet.io/shard'];
      if (label !== undefined) stsByShardLabel.set(label, sts.metadata.name);
    }
    let index = 0;
    // The subnet follows the name, so differently named clusters can run side by side.
    const octet = this.opts.octet ?? 30 + ([...this.name].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) % 9973, 7) % 60);
    this.net = planNet(this.name, octet);
    const ipOf = (i: number) => `${this.net.subnet}.${20 + i}`;
    for (const o of this.objects) {
      if (o.kind !== 'StatefulSet' && o.kind !== 'Deployment') continue;
      const replicas = o.spec.replicas ?? 1;
      for (let i = 0; i < replicas; i++) {
        const name = `${o.metadata.name}-${i}`;
        const labels = { ...(o.spec.template.metadata?.labels ?? {}) };
        if (o.kind === 'StatefulSet') labels['statefulset.kubernetes.io/pod-name'] = name;
        const shardLabel = labels['pgfleet.io/shard'];
        this.pods.push({
          name, kind: o.kind, owner: o.metadata.name, labels, templateLabels: { ...labels }, spec: o.spec.template.spec,
          shard: o.kind === 'StatefulSet' ? o.metadata.name : shardLabel !== undefined ? stsByShardLabel.get(shardLabel) : undefined,
          ns: `${this.name}-${name}`, veth: `${this.name}v${index}`.slice(0, 13), ip: ipOf(index), dir: join(this.dir, 'pods', name),
          procs: new Map(), down: false, generation: 0, readiness: new Map(), minRevision: 0, terminationGraceS: o.spec.template.spec.terminationGracePeriodSeconds ?? 30,
        });
        index++;
      }
    }
    if (!this.pods.some((p) => p.kind === 'StatefulSet')) throw new Error('the rendered chart has no StatefulSet');
  }

  private services(): K8sObject[] {
    return this.objects.filter((o) => o.kind === 'Service');
  }

  /** Pods that may back the Service: its selector without Patroni's `role` label, which changes at run time. */
  private selected(svc: K8sObject): Pod[] {
    return this.pods.filter((p) => selectorMatches(svc.spec.selector ?? {}, p.templateLabels, ['role']));
  }

  // ---- network -----------------------------------------------------------------------------------------------

  private buildNetwork(): void {
    this.log(`network: bridge ${this.net.bridge} ${this.net.subnet}.0/24, one namespace per pod`);
    createBridge(this.net);
    this.state.bridge = this.net.bridge;
    saveState(this.state);
    const svcs = this.services().filter((s) => s.spec.clusterIP !== 'None');
    svcs.forEach((s, i) => this.svcIps.set(s.metadata.name, `${this.net.subnet}.${100 + i}`));
    this.etcdIp = `${this.net.subnet}.2`;
    const mk = (ns: string, veth: string, addrs: string[]) => {
      this.state.namespaces.push(ns);
      saveState(this.state);
      createNamespace(ns, veth, this.net, addrs);
    };
    mk(`${this.name}-etcd`, `${this.name}ve`, [this.etcdIp]);
    mk(`${this.name}-svc`, `${this.name}vs`, [...this.svcIps.values()]);
    // Job pods (backups) run one at a time in their own namespace.
    mk(`${this.name}-job`, `${this.name}vj`, [this.jobIp]);
    // Letters for the fixed namespaces: pod veths are `${name}v<index>`, so a digit here would collide (v3 = pod 3).
    if (this.backupsRendered()) mk(`${this.name}-s3`, `${this.name}vb`, [this.s3Ip]);
    for (const p of this.pods) mk(p.ns, p.veth, [p.ip]);
    const entries = this.dnsEntries();
    for (const ns of [`${this.name}-etcd`, `${this.name}-svc`, `${this.name}-job`, ...(this.backupsRendered() ? [`${this.name}-s3`] : [])]) writeHosts(ns, undefined, undefined, entries);
    for (const p of this.pods) writeHosts(p.ns, p.name, p.ip, entries);
    writeFileSync(join(this.dir, 'hosts'), entries.map(([ip, names]) => `${ip}\t${names.join(' ')}`).join('\n') + '\n');
  }

  /** What cluster DNS would answer: Services (<svc>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local), headless Services to every pod IP, StatefulSet pods under their governing Service. */
  private dnsEntries(): [string, string[]][] {
    const names = (n: string) => [n, `${n}.${this.namespace}`, `${n}.${this.namespace}.svc`, `${n}.${this.namespace}.svc.cluster.local`];
    const out: [string, string[]][] = [[this.etcdIp, names(ETCD_SERVICE)], [this.s3Ip, names(S3_SERVICE)]];
    for (const svc of this.services()) {
      if (svc.spec.clusterIP === 'None') for (const p of this.selected(svc)) out.push([p.ip, names(svc.metadata.name)]);
      else out.push([this.svcIps.get(svc.metadata.name)!, names(svc.metadata.name)]);
    }
    for (const sts of this.objects.filter((o) => o.kind === 'StatefulSet' && o.spec.serviceName)) {
      for (const p of this.pods.filter((x) => x.owner === sts.metadata.name)) out.push([p.ip, names(`${p.name}.${sts.spec.serviceName}`)]);
    }
    return out;
  }

  // ---- processes ---------------------------------------------------------------------------------------------

  /**
   * Spawns argv inside a network namespace as the postgres user; stdout/stderr appended to `logFile`. With
   * `mounts` (a container), the process also gets its own mount namespace in which each volume's directory is
   * bind-mounted at its mountPath, so every path the chart renders means what it means in the container, and its
   * own PID namespace in which it is PID 1 (`kill 1` in a hook means the container's main process).
   */
  private spawnIn(ns: string, argv: string[], env: Record<string, string>, logFile: string, what: string, cwd = this.dir, mounts?: MountMap): ChildProcess {
    const fd = openSync(logFile, 'a');
    const child = spawn('ip', ['netns', 'exec', ns, ...this.wrap(argv, mounts ?? [], mounts !== undefined)], {
      env: { PATH, LANG: 'C.UTF-8', ...env }, cwd, detached: true, stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.state.pids.push({ pid: child.pid!, what });
    saveState(this.state);
    child.on('exit', () => {
      this.state.pids = this.state.pids.filter((p) => p.pid !== child.pid);
      if (!this.stopping) saveState(this.state);
    });
    return child;
  }

  /**
   * argv run as postgres, after bind-mounting the volumes (parents first) in a private mount namespace; with
   * `pidns`, as PID 1 of a new PID namespace (unshare forks it; its parent only waits).
   */
  private wrap(argv: string[], mounts: MountMap, pidns = false): string[] {
    if (!mounts.length && !pidns) return [...DROP, ...argv];
    const sorted = [...mounts].sort((a, b) => a.mountPath.length - b.mountPath.length);
    const script = 'set -e; while [ "$1" != -- ]; do if [ -d "$1" ]; then mkdir -p "$2"; else mkdir -p "$(dirname "$2")"; [ -e "$2" ] || : > "$2"; fi; mount --bind "$1" "$2"; shift 2; done; shift; exec "$@"';
    const pid = pidns ? ['--pid', '--fork', '--kill-child', '--mount-proc'] : [];
    return ['unshare', '--mount', '--propagation', 'private', ...pid, '--', '/bin/sh', '-c', script, 'pod', ...sorted.flatMap((m) => [m.hostPath, m.mountPath]), '--', ...DROP, ...argv];
  }

  /**
   * restartPolicy Always, as the kubelet applies it to containers (and as a service manager would to etcd, the S3
   * store and the Service stand-in): whatever exits is started again after a back-off (1 s, doubling to 30 s, reset
   * once it ran 10 s), unless the cluster is stopping or `wanted` says no (the pod is being deleted).
   */
  private keepRunning(start: () => ChildProcess, wanted: () => boolean = () => true): void {
    let backoff = 1000;
    const run = () => {
      const child = start();
      const startedAt = Date.now();
      child.on('exit', () => {
        if (Date.now() - startedAt > 10_000) backoff = 1000;
        const delay = backoff;
        backoff = Math.min(backoff * 2, 30_000);
        if (!this.stopping && wanted()) setTimeout(() => { if (!this.stopping && wanted()) run(); }, delay);
      });
    };
    run();
  }

  private async startEtcd(): Promise<void> {
    const dir = join(this.dir, 'etcd');
    mkdirSync(dir, { recursive: true });
    sh('chown', ['postgres:postgres', dir]);
    const ip = this.etcdIp;
    this.log(`etcd at ${ip}:2379`);
    this.keepRunning(() => this.spawnIn(`${this.name}-etcd`, ['etcd', '--name', 'etcd', '--data-dir', join(dir, 'data'), '--listen-client-urls', 'http://0.0.0.0:2379',
      '--advertise-client-urls', `http://${ip}:2379`, '--listen-peer-urls', `http://${ip}:2380`, '--initial-advertise-peer-urls', `http://${ip}:2380`,
      '--initial-cluster', `etcd=http://${ip}:2380`, '--initial-cluster-state', 'new'], {}, join(dir, 'etcd.log'), 'etcd'));
    await waitFor('etcd to answer', 30_000, async () => (await fetch(`http://${ip}:2379/health`, { signal: AbortSignal.timeout(1000) })).ok);
  }

  /** Whether the rendered chart archives to S3 (pgBackRest configuration pointing at the local store). */
  private backupsRendered(): boolean {
    return this.objects.some((o) => o.kind === 'ConfigMap' && Object.values<string>(o.data ?? {}).some((v) => v.includes(`repo1-s3-endpoint=${S3_SERVICE}`)));
  }

  /** s3rver over TLS (self-signed) as the S3 endpoint, in its own namespace, with the bucket the chart names. */
  private async runS3(): Promise<void> {
    if (!this.backupsRendered()) return;
    const dir = join(this.dir, 's3');
    const conf = this.objects.filter((o) => o.kind === 'ConfigMap').flatMap((o) => Object.values<string>(o.data ?? {})).join('\n');
    const bucket = /repo1-s3-bucket=(\S+)/.exec(conf)?.[1] ?? 'pgfleet';
    const script = s3rverScript(dir, { bucket, address: '0.0.0.0', names: [S3_SERVICE, this.s3Ip] });
    sh('chown', ['-R', 'postgres:postgres', dir]);
    this.log(`S3 (s3rver, TLS) at ${this.s3Ip}:${S3_PORT}, bucket ${bucket}`);
    this.keepRunning(() => this.spawnIn(`${this.name}-s3`, [process.execPath, script], {}, join(dir, 's3rver.log'), 's3rver', dir));
    await waitFor('s3rver to listen', 30_000, async () => readFileSync(join(dir, 's3rver.log'), 'utf8').includes(S3RVER.ready));
  }

  /** Runs a Job's pod (e.g. a CronJob's jobTemplate) to completion in the job namespace; throws on failure. */
  private async runJob(name: string, spec: any, labels: Record<string, string> = {}): Promise<string> {
    const p: Pod = { name, kind: 'Job', owner: name, labels, templateLabels: labels, spec, ns: `${this.name}-job`, veth: '', ip: this.jobIp, dir: join(this.dir, 'jobs', name), procs: new Map(), down: false, generation: 0, readiness: new Map(), minRevision: 0, terminationGraceS: 0 };
    mkdirSync(p.dir, { recursive: true });
    let out = '';
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const { argv, env, mounts } = this.prepareContainer(p, c);
      const log = join(p.dir, `${c.name}.log`);
      const child = this.spawnIn(p.ns, argv, env, log, `${name}/${c.name}`, p.dir, mounts);
      const code = await new Promise<number | null>((r) => child.on('exit', (x) => r(x)));
      out = readFileSync(log, 'utf8');
      if (code !== 0) throw new Error(`job ${name} container ${c.name} exited ${code}:\n${out.split('\n').slice(-15).join('\n')}`);
    }
    this.signalPod(p, 'SIGKILL');
    return out;
  }

  private async startServices(): Promise<void> {
    this.listeners = [];
    for (const svc of this.services()) {
      if (svc.spec.clusterIP === 'None') continue;
      for (const port of svc.spec.ports ?? []) {
        this.listeners.push({
          svc, name: `${svc.metadata.name}-${port.port}`, bind: this.svcIps.get(svc.metadata.name)!, port: port.port,
          backends: this.selected(svc).map((p) => ({ name: p.name, ip: p.ip, port: resolvePort(port.targetPort ?? port.port, p.spec.containers) })),
        });
      }
    }
    const dir = join(this.dir, 'services');
    mkdirSync(dir, { recursive: true });
    sh('chown', ['postgres:postgres', dir]);
    const cfg = join(dir, 'haproxy.cfg');
    this.haproxySocket = join(dir, 'haproxy.sock');
    writeFileSync(cfg, haproxyConfig(this.listeners, { pidfile: join(dir, 'haproxy.pid'), socket: this.haproxySocket }));
    sh('haproxy', ['-c', '-q', '-f', cfg]);
    this.log(`Services: ${[...this.svcIps].map(([n, ip]) => `${n}=${ip}`).join(' ')}`);
    this.keepRunning(() => {
      // A restarted HAProxy starts with every server disabled: the controller enables the endpoints again.
      this.enabled.clear();
      return this.spawnIn(`${this.name}-svc`, ['haproxy', '-db', '-f', cfg], {}, join(dir, 'haproxy.log'), 'haproxy');
    });
    await waitFor('HAProxy\'s runtime API', 10_000, async () => existsSync(this.haproxySocket) && (await haproxyCommand(this.haproxySocket, 'show info')).includes('Name: HAProxy'), 100);
    void this.endpointsLoop();
  }

  /** Ready: not terminating, every container it runs is up and passes its readinessProbe. */
  private ready(p: Pod): boolean {
    return !p.down && p.readiness.size > 0 && [...p.readiness].every(([name, r]) => p.procs.has(name) && r.ready);
  }

  /**
   * The endpoints controller and kube-proxy in one loop (every 100 ms): Patroni's role label from the DCS, then
   * each listener's servers enabled exactly while their pod is a ready, selected endpoint of the Service.
   */
  private async endpointsLoop(): Promise<void> {
    const prefix = this.dcsPrefix();
    while (!this.stopping) {
      try {
        const view = await dcsView(`${this.etcdIp}:2379`, prefix);
        this.dcsRevision = view.revision;
        for (const p of this.dbPods()) {
          const fresh = <T extends { modRevision: number }>(x: T | undefined) => (x && x.modRevision > p.minRevision ? x : undefined);
          const label = roleLabel(fresh(view.members.get(p.name)), fresh(view.leaders.get(p.shard!))?.name === p.name);
          if (label === null) delete p.labels.role;
          else if (label !== undefined) p.labels.role = label;
        }
      } catch { /* etcd unreachable: labels stay as they are, as they would on pods */ }
      for (const l of this.listeners) {
        for (const b of l.backends) {
          const key = `${l.name}/${b.name}`;
          const want = this.ready(this.pod(b.name)) && selectorMatches(l.svc.spec.selector ?? {}, this.pod(b.name).labels);
          if (want === this.enabled.has(key)) continue;
          try {
            await haproxyCommand(this.haproxySocket, `set server ${key} state ${want ? 'ready' : 'maint'}`);
            if (want) this.enabled.add(key); else this.enabled.delete(key);
          } catch { /* HAProxy restarting: the next round applies it */ }
        }
      }
      await sleep(100);
    }
  }

  /** Patroni's key prefix in the DCS (its `namespace`, `/service/` by default). */
  private dcsPrefix(): string {
    const cfg = parseYaml(this.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === `${this.dbPods()[0]!.shard}-patroni`)?.data?.['patroni.yml'] ?? '{}');
    return String(cfg?.namespace ?? '/service/').replace(/\/?$/, '/');
  }

  /** Mounts, environment and argv of one container of a pod, as the kubelet would set them up. */
  private prepareContainer(p: Pod, c: any): { argv: string[]; env: Record<string, string>; mounts: MountMap } {
    const owner = { uid: POSTGRES_UID(), gid: POSTGRES_GID() };
    const mounts = materialiseVolumes(p.spec, c, p.dir, this.objects, owner);
    const env = containerEnv(c, { name: p.name, namespace: this.namespace, ip: p.ip, labels: p.labels }, this.objects);
    const command = c.command?.length ? c.command : imageEntrypoint(c.image);
    if (!command) throw new Error(`container ${c.name} of ${p.name} relies on the entrypoint of ${c.image}, which the local backend does not know`);
    const argv = [...command, ...(c.args ?? [])].map((a: string) => expand(String(a), env));
    return { argv, env, mounts };
  }

  private async startPod(p: Pod): Promise<void> {
    p.down = false;
    const generation = ++p.generation;
    // A new pod has only its template's labels: Patroni labels it again once it runs.
    p.labels = { ...p.templateLabels };
    p.minRevision = this.dcsRevision;
    for (const r of p.readiness.values()) r.stop();
    p.readiness.clear();
    // A new pod: fresh emptyDirs and ConfigMap/Secret files, the PVC (pvc-*) survives.
    rmSync(join(p.dir, 'volumes'), { recursive: true, force: true });
    mkdirSync(p.dir, { recursive: true });
    for (const c of p.spec.initContainers ?? []) {
      const { argv, env, mounts } = this.prepareContainer(p, c);
      const child = this.spawnIn(p.ns, argv, env, join(p.dir, `${c.name}.log`), `${p.name}/${c.name}`, p.dir, mounts);
      const code = await new Promise<number | null>((r) => child.on('exit', (c2) => r(c2)));
      if (code !== 0) throw new Error(`init container ${c.name} of ${p.name} exited ${code}: see ${join(p.dir, `${c.name}.log`)}`);
    }
    for (const c of p.spec.containers) {
      if (!c.command?.length && imageEntrypoint(c.image) && !existsSync(imageEntrypoint(c.image)![0]!)) {
        this.log(`pod ${p.name}: skipping container ${c.name} (${imageEntrypoint(c.image)![0]} is not installed: ${INSTALL_HINT.split('   ')[0]})`);
        continue;
      }
      const { argv, env, mounts } = this.prepareContainer(p, c);
      this.keepRunning(() => {
        const child = this.spawnIn(p.ns, argv, env, join(p.dir, `${c.name}.log`), `${p.name}/${c.name}`, p.dir, mounts);
        p.procs.set(c.name, child);
        // A (re)started container is not ready until its readinessProbe passes.
        p.readiness.get(c.name)?.stop();
        const readiness = new Readiness(c.readinessProbe, (probe) => probeOnce(probe, p.ip, p.spec.containers, async (cmd, timeoutMs) => (await this.exec(p.name, cmd, { container: c.name, timeoutMs })).code === 0)).start();
        p.readiness.set(c.name, readiness);
        child.on('exit', () => { if (p.procs.get(c.name) === child) p.procs.delete(c.name); readiness.stop(); });
        return child;
      }, () => generation === p.generation && !p.down && !p.procs.has(c.name));
    }
    this.log(`pod ${p.name} (${p.ip}) started: ${[...p.procs.keys()].join(', ')}`);
  }

  private pod(name: string): Pod {
    const p = this.pods.find((x) => x.name === name);
    if (!p) throw new Error(`no pod ${name}; pods: ${this.pods.map((x) => x.name).join(', ')}`);
    return p;
  }

  /**
   * SIGKILL: everything in the pod dies at once (a node crash). SIGTERM: pod deletion as the kubelet does it: each
   * container's preStop hook (unless `hooks` is false: a forced delete), then SIGTERM to its main process, and
   * SIGKILL to whatever is left at the end of the grace period.
   */
  private async stopPod(p: Pod, signal: Signal, hooks = true): Promise<void> {
    p.down = true;
    p.generation++;
    for (const r of p.readiness.values()) r.stop();
    if (signal === 'SIGKILL') {
      // Patroni, the postmaster (Patroni starts it in its own session) and backends.
      this.signalPod(p, 'SIGKILL');
    } else {
      const deadline = Date.now() + p.terminationGraceS * 1000;
      await Promise.all([...p.procs].map(async ([name, child]) => {
        const hook = p.spec.containers.find((c: any) => c.name === name)?.lifecycle?.preStop?.exec?.command;
        if (hooks && hook?.length) {
          const r = await this.exec(p.name, hook, { container: name, timeoutMs: Math.max(1000, deadline - Date.now()) });
          writeFileSync(join(p.dir, `${name}-prestop.log`), `${new Date().toISOString()} exit ${r.code}\n${r.stdout}${r.stderr}`, { flag: 'a' });
        }
        const pid = mainPid(child);
        if (pid) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
      }));
      while (Date.now() < deadline && p.procs.size) await sleep(100);
      this.signalPod(p, 'SIGKILL');
    }
    await waitFor(`${p.name}'s processes to exit`, 15_000, async () => namespacePids(p.ns).length === 0 && p.procs.size === 0, 50);
  }

  // ---- health ------------------------------------------------------------------------------------------------

  private async patroni(p: Pod, path: string, timeoutMs = 1000): Promise<any> {
    const port = resolvePort('patroni', p.spec.containers);
    const r = await fetch(`http://${p.ip}:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await r.text();
    try { return JSON.parse(text); } catch { return text; }
  }

  private dbPods(shard?: string): Pod[] {
    return this.pods.filter((p) => p.kind === 'StatefulSet' && (shard === undefined || p.shard === shard));
  }

  async waitHealthy(timeoutS = 180): Promise<void> {
    for (const shard of await this.shards()) {
      await waitFor(`shard ${shard}: a primary and every replica streaming`, timeoutS * 1000, async () => {
        const ms = await this.members(shard);
        const leader = ms.find((m) => m.role === 'primary' && m.state === 'running');
        if (!leader || ms.filter((m) => m.role === 'primary').length !== 1) return false;
        if (!ms.every((m) => m.role === 'primary' || (m.role === 'replica' && ['running', 'streaming'].includes(m.state) && (m.lag ?? 0) < 16 << 20))) return false;
        // With synchronous mode on, healthy means a synchronous standby is in place.
        const config = await this.patroni(this.pod(leader.name), '/config');
        return !config?.synchronous_mode || ms.length < 2 || ms.some((m) => m.sync);
      }, 500);
      this.log(`shard ${shard} healthy`);
    }
  }

  /** Pooler pods listen, and every Service in front of them answers the PostgreSQL protocol (has a ready endpoint). */
  private async waitPoolers(pods = this.pods.filter((x) => x.kind === 'Deployment')): Promise<void> {
    for (const p of pods) {
      const ports = p.spec.containers.flatMap((c: any) => (c.ports ?? []).map((x: any) => x.containerPort as number));
      for (const port of ports) await waitFor(`${p.name} to listen on ${port}`, 60_000, () => listens(p.ip, port));
    }
    // The Service stand-in accepts connections before its health checks have marked a new pod up (a Service
    // without ready endpoints): a client connecting then is dropped at once. Ready means a protocol answer.
    for (const svc of this.services().filter((s) => this.svcIps.has(s.metadata.name))) {
      const backends = this.selected(svc).filter((p) => pods.includes(p));
      if (!backends.length) continue;
      for (const port of svc.spec.ports ?? []) {
        const target = resolvePort(port.targetPort ?? port.port, backends[0]!.spec.containers);
        if (!(await answersPostgres(backends[0]!.ip, target))) continue; // not a PostgreSQL port (metrics)
        await waitFor(`Service ${svc.metadata.name} to reach a pooler on ${port.port}`, 60_000, () => answersPostgres(this.svcIps.get(svc.metadata.name)!, port.port));
      }
    }
  }

  // ---- Cluster interface -------------------------------------------------------------------------------------

  async shards(): Promise<string[]> {
    return [...new Set(this.dbPods().map((p) => p.shard!))];
  }

  async members(shard?: string): Promise<Member[]> {
    const out: Member[] = [];
    for (const s of shard ? [shard] : await this.shards()) {
      const pods = this.dbPods(s);
      // Who holds the leader key, read from etcd itself: a member's /cluster answers from its watch cache, which a
      // member resumed after SIGSTOP still fills with its old view (itself as leader) for a moment.
      const leader = await dcsView(`${this.etcdIp}:2379`, this.dcsPrefix()).then((v) => v.leaders.get(s)?.name ?? null, () => undefined);
      // The rest of the DCS view (any reachable member answers /cluster, the leader first), completed by each member's own view.
      let view: any;
      for (const p of [...pods].sort((a, b) => Number(b.name === leader) - Number(a.name === leader))) {
        if (p.down) continue;
        try { view = await this.patroni(p, '/cluster'); if (view?.members) break; } catch { /* next */ }
      }
      // The DCS keeps a dead member's key until its TTL runs out: a member counts as running only if its own API says so.
      const own = await Promise.all(pods.map((p) => (p.down ? Promise.resolve(undefined) : this.patroni(p, '/patroni').catch(() => undefined))));
      for (const [i, p] of pods.entries()) {
        const m = (view?.members ?? []).find((x: any) => x.name === p.name);
        const self = own[i];
        let role: Member['role'] = 'unknown';
        let state = p.down ? 'stopped' : 'unreachable';
        if (m) role = m.role === 'leader' || m.role === 'standby_leader' ? 'primary' : 'replica';
        if (m && leader !== undefined) role = p.name === leader ? 'primary' : 'replica';
        if (self && typeof self === 'object') state = self.state ?? state;
        if (m && self && typeof self === 'object' && self.role === 'replica' && role === 'primary') role = 'unknown';
        out.push({ name: p.name, shard: s, role, state, host: p.ip, timeline: m?.timeline, lag: typeof m?.lag === 'number' ? m.lag : undefined, sync: m?.role === 'sync_standby' });
      }
    }
    return out;
  }

  async primary(shard: string): Promise<Member | undefined> {
    return (await this.members(shard)).find((m) => m.role === 'primary');
  }

  async dynamicConfig(shard: string): Promise<Record<string, any>> {
    for (const p of this.dbPods(shard)) {
      if (p.down) continue;
      try { const c = await this.patroni(p, '/config'); if (c && typeof c === 'object') return c; } catch { /* next */ }
    }
    throw new Error(`no member of ${shard} answers /config`);
  }

  async poolers(shard: string, pool?: 'rw' | 'ro'): Promise<string[]> {
    return this.pods.filter((p) => p.kind === 'Deployment' && p.shard === shard && p.labels['app.kubernetes.io/component'] === 'pgbouncer'
      && (pool === undefined || p.labels['pgfleet.io/pool'] === pool)).map((p) => p.name);
  }

  async kill(pod: string, signal: Signal): Promise<void> {
    await this.stopPod(this.pod(pod), signal);
  }

  async start(pod: string): Promise<void> {
    const p = this.pod(pod);
    if (!p.down) return;
    await this.startPod(p);
    // A pooler is back when it is Ready again (in its Services), as `kubectl rollout status` would say.
    if (p.kind === 'Deployment') {
      await this.waitPoolers([p]);
      await waitFor(`${p.name} to be Ready`, 60_000, async () => this.ready(p), 100);
    }
  }

  async freeze(pod: string): Promise<void> {
    this.signalPod(this.pod(pod), 'SIGSTOP');
  }

  async thaw(pod: string): Promise<void> {
    this.signalPod(this.pod(pod), 'SIGCONT');
  }

  /** Sends `signal` to every process of the pod (every container, and the wrappers that hold its namespaces). */
  private signalPod(p: Pod, signal: NodeJS.Signals): void {
    for (const pid of namespacePids(p.ns)) { try { process.kill(pid, signal); } catch { /* gone */ } }
  }

  async partition(pod: string): Promise<void> {
    isolate(this.pod(pod).ns);
  }

  async heal(): Promise<void> {
    for (const p of this.pods) unisolate(p.ns);
  }

  /** Runs the chart's switchover script in the leader's pod (kubectl exec), as an operator would. */
  async switchover(shard: string, candidate?: string): Promise<string> {
    const ms = await this.members(shard);
    const leader = ms.find((m) => m.role === 'primary');
    if (!leader) throw new Error(`shard ${shard} has no primary to switch over from`);
    const target = candidate ?? (ms.find((m) => m.sync) ?? ms.find((m) => m.role === 'replica' && m.state !== 'stopped'))?.name;
    if (!target) throw new Error(`shard ${shard} has no replica to switch over to`);
    const p = this.pod(leader.name);
    const r = await this.exec(p.name, [SWITCHOVER_SCRIPT, '--candidate', target], { timeoutMs: 90_000 });
    writeFileSync(join(p.dir, 'switchover.log'), r.stderr, { flag: 'a' });
    if (r.code !== 0) throw new Error(`switchover of ${shard} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return target;
  }

  /** The rendered patroni.yml of a database pod (paths already rewritten to the pod's directories). */
  private patroniConfig(p: Pod): any {
    const c = p.spec.containers[0];
    const { argv, mounts } = this.prepareContainerView(p, c);
    const host = (path: string) => {
      const m = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length).find((x) => path === x.mountPath || path.startsWith(`${x.mountPath}/`));
      return m ? m.hostPath + path.slice(m.mountPath.length) : path;
    };
    const file = argv.filter((a) => /\.ya?ml$/.test(a)).map(host).find((a) => existsSync(a));
    if (!file) throw new Error(`${p.name}: no Patroni configuration file in the container command`);
    return parseYaml(readFileSync(file, 'utf8'));
  }

  /** argv and env of a running pod's container without touching its volumes. */
  private prepareContainerView(p: Pod, c: any): { argv: string[]; env: Record<string, string>; mounts: MountMap } {
    const volumes = new Map<string, any>((p.spec.volumes ?? []).map((v: any) => [v.name, v]));
    const mounts: MountMap = (c.volumeMounts ?? []).map((m: any) => {
      const vol = volumes.get(m.name);
      const dir = !vol ? join(p.dir, `pvc-${m.name}`) : vol.persistentVolumeClaim ? join(p.dir, `pvc-${vol.persistentVolumeClaim.claimName}`) : join(p.dir, 'volumes', m.name);
      return { mountPath: m.mountPath, hostPath: m.subPath ? join(dir, m.subPath) : dir };
    });
    const env = containerEnv(c, { name: p.name, namespace: this.namespace, ip: p.ip, labels: p.labels }, this.objects);
    const argv = [...(c.command ?? []), ...(c.args ?? [])].map((a: string) => expand(String(a), env));
    return { argv, env, mounts };
  }

  /**
   * Runs argv in a container of a pod (default: the first) as kubectl exec does: inside the running container's
   * namespaces (network, mounts, PIDs), with its environment; a container that is not running is imitated
   * (its network and volumes, a PID namespace of its own).
   */
  async exec(pod: string, argv: string[], opts: { timeoutMs?: number; env?: Record<string, string>; container?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const p = this.pod(pod);
    const c = opts.container ? p.spec.containers.find((x: any) => x.name === opts.container) : p.spec.containers[0];
    if (!c) throw new Error(`pod ${pod} has no container ${opts.container}`);
    const { env, mounts } = this.prepareContainerView(p, c);
    const main = p.procs.get(c.name) && mainPid(p.procs.get(c.name)!);
    const cmd = main ? ['nsenter', '--target', String(main), '--mount', '--pid', '--net', '--', ...DROP, ...argv] : ['ip', 'netns', 'exec', p.ns, ...this.wrap(argv, mounts, true)];
    return new Promise((resolve) => {
      const child = spawn(cmd[0]!, cmd.slice(1), {
        env: { PATH, LANG: 'C.UTF-8', ...env, ...(opts.env ?? {}) }, cwd: p.dir, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => { child.kill('SIGKILL'); stderr += `\n(timed out after ${opts.timeoutMs} ms)`; }, opts.timeoutMs ?? 30_000);
      child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    });
  }

  private appCredentials(): AppCredentials {
    const db = this.dbPods()[0]!;
    return appCredentials(this.prepareContainerView(db, db.spec.containers[0]).env);
  }

  private tlsCa(): string | undefined {
    const db = this.dbPods()[0]!;
    for (const v of db.spec.volumes ?? []) {
      if (!v.secret?.secretName) continue;
      const data = objectData(this.objects, 'Secret', v.secret.secretName);
      if (data['ca.crt']) return data['ca.crt'].toString();
    }
    return undefined;
  }

  /** Whether the pods behind a Service speak TLS to clients: a PgBouncer says so in its ini (client_tls_sslmode). */
  private clientTls(svc: K8sObject, postgresTls: boolean): boolean {
    const pod = this.selected(svc)[0];
    if (!pod || pod.kind === 'StatefulSet') return postgresTls;
    for (const v of pod.spec.volumes ?? []) {
      if (!v.configMap) continue;
      const ini = this.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === v.configMap.name)?.data?.['pgbouncer.ini'] as string | undefined;
      if (ini) return !/^\s*client_tls_sslmode\s*=\s*disable\s*$/m.test(ini) && /^\s*client_tls_sslmode\s*=/m.test(ini);
    }
    return postgresTls;
  }

  private serviceName(e: { service: string; shard: string }): string {
    const has = (n: string) => this.svcIps.has(n);
    switch (e.service) {
      case 'primary': return `${e.shard}-primary`;
      case 'replicas': return `${e.shard}-replicas`;
      case 'rw': return has(`${e.shard}-pgbouncer-rw`) ? `${e.shard}-pgbouncer-rw` : `${e.shard}-primary`;
      case 'ro': return has(`${e.shard}-pgbouncer-ro`) ? `${e.shard}-pgbouncer-ro` : `${e.shard}-replicas`;
    }
    throw new Error(`unknown service ${e.service}`);
  }

  async connection(endpoint: Endpoint): Promise<ConnectionInfo> {
    const { user, database, password } = this.appCredentials();
    const ca = this.tlsCa();
    if ('member' in endpoint) return { host: this.pod(endpoint.member).ip, port: 5432, user, database, password, ca, tls: Boolean(ca) };
    const name = this.serviceName(endpoint);
    const svc = this.services().find((s) => s.metadata.name === name);
    if (!svc) throw new Error(`Service ${name} is not rendered`);
    return { host: this.svcIps.get(name)!, port: svc.spec.ports[0].port, user, database, password, ca, tls: this.clientTls(svc, Boolean(ca)) };
  }

  async writeEndpoint(shard: string): Promise<Endpoint> {
    return { service: 'rw', shard };
  }

  async sql(endpoint: Endpoint, query: string, opts: { timeoutMs?: number; database?: string } = {}): Promise<string[][]> {
    if ('member' in endpoint) {
      const p = this.pod(endpoint.member);
      const cfg = this.patroniConfig(p);
      const socket = String(cfg.postgresql?.parameters?.unix_socket_directories ?? '/var/run/postgresql').split(',')[0]!.trim();
      const port = Number(String(cfg.postgresql?.listen ?? '0.0.0.0:5432').split(':').pop());
      const su = cfg.postgresql?.authentication?.superuser?.username ?? 'postgres';
      const { env } = this.prepareContainerView(p, p.spec.containers[0]);
      const db = opts.database ?? this.appCredentials().database;
      const r = await this.exec(p.name, ['psql', '-X', '-q', '-A', '-t', '-F', '\x1f', '-v', 'ON_ERROR_STOP=1', '-h', socket, '-p', String(port), '-U', su, '-d', db, '-c', query], {
        timeoutMs: opts.timeoutMs, env: { PGPASSWORD: env.PATRONI_SUPERUSER_PASSWORD ?? '', PGCONNECT_TIMEOUT: '3' },
      });
      if (r.code !== 0) throw new Error(`psql on ${p.name} failed: ${r.stderr.trim()}`);
      return r.stdout.split('\n').filter((l) => l.length).map((l) => l.split('\x1f'));
    }
    const info = await this.connection(endpoint);
    const client = new pg.Client({ ...clientConfig(info), database: opts.database ?? info.database, query_timeout: opts.timeoutMs ?? 30_000 });
    client.on('error', () => { /* surfaces through the pending call */ });
    await client.connect();
    try {
      const r = await client.query({ text: query, rowMode: 'array' });
      const rows = Array.isArray(r) ? r.at(-1)!.rows : r.rows;
      return rows.map((row: unknown[]) => row.map((v) => (v === null ? '' : v instanceof Date ? v.toISOString() : String(v))));
    } finally { await client.end().catch(() => {}); }
  }

  async wipe(pod: string): Promise<void> {
    const p = this.pod(pod);
    await this.stopPod(p, 'SIGKILL');
    for (const f of readdirSync(p.dir)) if (f.startsWith('pvc-')) rmSync(join(p.dir, f), { recursive: true, force: true });
    await this.startPod(p);
  }

  async backupsEnabled(): Promise<boolean> {
    return this.backupsRendered();
  }

  /** Runs the shard's backup CronJob once (the Job its jobTemplate describes), as the CronJob controller would. */
  async backup(shard: string, type: 'full' | 'diff' | 'incr' = 'full'): Promise<string> {
    const sts = this.objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === shard);
    const idx = sts?.spec.template.metadata?.labels?.['pgfleet.io/shard'];
    const cjs = this.objects.filter((o) => o.kind === 'CronJob' && o.metadata.labels?.['app.kubernetes.io/component'] === 'backup' && o.metadata.labels?.['pgfleet.io/shard'] === idx && o.metadata.labels?.['pgfleet.io/backup-type']);
    const cj = cjs.find((o) => o.metadata.labels!['pgfleet.io/backup-type'] === type) ?? cjs[0];
    if (!cj) throw new Error(`no backup CronJob rendered for ${shard}`);
    let spec = cj.spec.jobTemplate.spec.template.spec;
    if (cj.metadata.labels!['pgfleet.io/backup-type'] !== type) {
      // Only another type's schedule is rendered: the same Job with the requested type (its last argument).
      spec = JSON.parse(JSON.stringify(spec).replace(`"${cj.metadata.labels!['pgfleet.io/backup-type']}"]`, `"${type}"]`));
    }
    const name = `${cj.metadata.name}-${++this.jobs}`;
    this.log(`job ${name}: ${type} backup of ${shard}`);
    const out = await this.runJob(name, spec, cj.spec.jobTemplate.spec.template.metadata?.labels ?? {});
    return /new backup label = (\S+)/.exec(out)?.[1] ?? name;
  }

  /**
   * Point-in-time restore in place, the way a user would do it with the chart: `helm upgrade` with restore values
   * (restore.enabled, target time) after deleting the shard's volumes and DCS state; Patroni bootstraps the
   * shard with its custom bootstrap (pgbackrest restore), replicas follow.
   */
  async restore(shard: string, target: Date): Promise<void> {
    const time = target.toISOString().replace('T', ' ').replace('Z', '+00');
    const objects = this.renderManifests({ 'restore.enabled': true, 'restore.target.type': 'time', 'restore.target.time': time });
    const pods = this.dbPods(shard);
    this.log(`restore ${shard} to ${time}: stopping its members, deleting their volumes and DCS keys`);
    // Forced deletion (no preStop hooks): these members are wiped, a handover between them would only add churn.
    for (const p of pods) await this.stopPod(p, 'SIGTERM', false);
    for (const p of pods) for (const f of readdirSync(p.dir)) if (f.startsWith('pvc-')) rmSync(join(p.dir, f), { recursive: true, force: true });
    const cfg = parseYaml(objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === `${shard}-patroni`)?.data?.['patroni.yml'] ?? '{}');
    const prefix = `${String(cfg.namespace ?? '/service/').replace(/\/?$/, '/')}${shard}/`;
    const r = sh('ip', ['netns', 'exec', `${this.name}-etcd`, 'etcdctl', '--endpoints', `http://${this.etcdIp}:2379`, 'del', '--prefix', prefix]);
    this.log(`deleted ${r.stdout.trim()} DCS keys under ${prefix}`);
    this.objects = objects;
    const sts = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === shard)!;
    for (const p of pods) p.spec = sts.spec.template.spec;
    for (const p of pods) await this.startPod(p);
    await this.waitHealthy(this.opts.readyTimeoutS ?? 300);
  }

  async close(): Promise<void> {
    for (const c of this.clients) await c.end().catch(() => {});
  }

  /**
   * What a client on this machine uses: each Service under its cluster DNS name (`<svc>.<namespace>.svc`, one of the
   * certificate's names), resolvable here through a block in /etc/hosts that teardown removes; `sslmode=verify-full`
   * with the cluster CA written to the state directory where the endpoint speaks TLS. Recorded in endpoints.json
   * for `npm run local -- psql|status`.
   */
  private async publishEndpoints(): Promise<void> {
    const ca = this.tlsCa();
    const caFile = join(this.dir, CA_FILE);
    if (ca) writeFileSync(caFile, ca, { mode: 0o644 });
    const fqdn = (svc: string) => `${svc}.${this.namespace}.svc`;
    const out: LocalEndpoint[] = [];
    for (const shard of await this.shards()) {
      for (const kind of ['rw', 'ro', 'primary', 'replicas'] as ServiceKind[]) {
        const service = this.serviceName({ service: kind, shard });
        if ((kind === 'rw' || kind === 'ro') && service === this.serviceName({ service: kind === 'rw' ? 'primary' : 'replicas', shard })) continue;
        const c = await this.connection({ service: kind, shard });
        const params = c.tls ? `sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}` : 'sslmode=disable';
        const url = `postgresql://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@${fqdn(service)}:${c.port}/${encodeURIComponent(c.database)}?${params}`;
        out.push({ shard, kind, service, host: c.host, port: c.port, tls: c.tls, url });
      }
    }
    setHostsBlock(this.name, out.map((e) => [e.host, [fqdn(e.service)]]));
    this.state.hostsBlock = true;
    saveState(this.state);
    writeFileSync(join(this.dir, ENDPOINTS_FILE), JSON.stringify(out, null, 2), { mode: 0o600 });
    this.published = out;
  }

  /** The endpoints up() published (connection strings that work verbatim from this machine). */
  endpoints(): LocalEndpoint[] {
    return this.published;
  }


  /** Stops every process, removes namespaces, bridge and directories. */
  async down(opts: { keepData?: boolean } = {}): Promise<void> {
    this.stopping = true;
    await this.close();
    for (const p of this.pods) p.down = true;
    // A persistent cluster keeps its data; PGFLEET_KEEP_LOGS=1 keeps any cluster's directory (pod logs, data).
    if (this.state) await teardown(this.state, { keepData: opts.keepData ?? (this.state.persist || Boolean(process.env.PGFLEET_KEEP_LOGS)) });
  }
}

/** Local binaries standing in for the entrypoints of images whose containers the chart renders without a command. */
const ENTRYPOINTS: [RegExp, string[]][] = [
  [/\/postgres-exporter(:|@|$)/, ['/usr/bin/prometheus-postgres-exporter']],
  [/\/pgbouncer-exporter(:|@|$)/, ['/usr/bin/prometheus-pgbouncer-exporter']],
];

export function imageEntrypoint(image: string | undefined): string[] | undefined {
  return ENTRYPOINTS.find(([re]) => re.test(image ?? ''))?.[1];
}

const mainPid = (child: ChildProcess) => (child.pid ? mainPidOf(child.pid) : undefined);

/** Whether host:port accepts a TCP connection. */
function listens(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false)).on('timeout', () => { s.destroy(); resolve(false); });
  });
}

/** Whether host:port answers a PostgreSQL SSLRequest (PostgreSQL and PgBouncer reply with one byte, S or N). */
export function answersPostgres(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs }, () => s.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])));
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.on('data', (d) => done(d[0] === 0x53 || d[0] === 0x4e)).on('error', () => done(false)).on('timeout', () => done(false)).on('end', () => done(false));
  });
}
