// The drills' client inside the cluster (kube backend): one pod of the database image, labelled as an allowed
// client of the release and pinned to a node the drills never stop, runs the writer (writer.py). Its connections go
// through DNS, the Service and kube-proxy, as an application's do; a client on the harness's side reaches a pod
// through `kubectl port-forward` instead, whose stream through the API server and the kubelet can break on its own
// (PgBouncer then logs the client's side closing, "unexpected eof"), and those breaks were counted as client errors.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { type Ack, type ClientError, type DrillWriter, type WriterOptions } from '../cluster.ts';
import { TABLE } from '../drills/writer.ts';
import { sleep } from '../proc.ts';

export const CLIENT_POD = 'pgfleet-drill-client';
const SCRIPT = readFileSync(new URL('./writer.py', import.meta.url), 'utf8');
const CA_FILE = '/tmp/pgfleet-drill-ca.crt';

/** The client pod: restricted, no token, `labels` (the release's client label), on `node` when given. */
export function clientPodManifest(image: string, labels: Record<string, string>, node?: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: CLIENT_POD, labels: { ...labels, 'pgfleet.io/drill': 'client' } },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(node ? { nodeSelector: { 'kubernetes.io/hostname': node } } : {}),
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'client',
          image,
          imagePullPolicy: 'IfNotPresent',
          command: ['sleep', 'infinity'],
          resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  };
}

/** libpq connection string value, quoted. */
const conninfo = (v: string | number) => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export type WriterTarget = { host: string; port: number; database: string; user: string; password: string; ca?: string; tls: boolean };

/**
 * The drill writer, run in the client pod by `exec` (the argv that runs a command there: `kubectl exec -i POD --`,
 * or the node's `crictl exec -i`); acks and errors stream back as they happen.
 */
export class InClusterWriter implements DrillWriter {
  readonly acks: Ack[] = [];
  readonly errors: ClientError[] = [];
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private stopping = false;

  constructor(
    private exec: string[],
    private target: WriterTarget,
    readonly run: string,
    private opts: WriterOptions = {},
  ) {}

  start(): void {
    const t = this.target;
    const dsn = Object.entries({
      host: t.host,
      port: t.port,
      dbname: t.database,
      user: t.user,
      password: t.password,
      connect_timeout: 5,
      sslmode: t.tls ? 'verify-ca' : 'disable',
      ...(t.tls ? { sslrootcert: CA_FILE } : {}),
    })
      .map(([k, v]) => `${k}=${conninfo(v)}`)
      .join(' ');
    const settings = {
      dsn,
      ca: t.tls ? t.ca : undefined,
      caFile: CA_FILE,
      table: TABLE,
      run: this.run,
      firstId: this.opts.firstId ?? Date.now() * 1000,
      intervalMs: this.opts.intervalMs ?? 20,
      timeoutMs: this.opts.timeoutMs ?? 5000,
    };
    const child = spawn(this.exec[0]!, [...this.exec.slice(1), 'python3', '-u', '-c', SCRIPT], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdin!.write(`${JSON.stringify(settings)}\n`);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line);
      if (m.a) this.acks.push({ id: m.a[0], sentAt: m.a[1], ackAt: m.a[2], server: m.a[3] });
      else if (m.e) this.errors.push({ id: m.e[0], at: m.e[1], message: m.e[2] });
    });
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        // the writer itself gone before it was told to stop: the drill must not read that as a quiet client
        if (!this.stopping)
          this.errors.push({ id: -1, at: Date.now(), message: `in-cluster writer ended (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}` });
        resolve();
      }),
    );
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.child?.stdin!.end('stop\n');
    const exited = this.exited ?? Promise.resolve();
    if (await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)])) return;
    this.child?.kill('SIGKILL');
    await exited;
  }
}
