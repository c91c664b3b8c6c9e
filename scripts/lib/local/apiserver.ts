// The part of the Kubernetes API server that the local backend's pods call: a merge patch of a pod's labels (what
// the etcd3 DCS's role-label callback sends), over TLS on the bridge's host address, as KUBERNETES_SERVICE_HOST.
// It authenticates the service-account token the kubelet mounts into the pod and authorises the request by the
// Roles and RoleBindings the chart rendered, so the Services select on labels only what the chart itself wrote.
// Anything else is refused with the status a real API server would give, and logged.
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { K8sObject } from '../helm.ts';
import type { LocalNode } from './node.ts';
import { sh } from '../proc.ts';

/** Where the kubelet mounts a pod's service-account credentials (automountServiceAccountToken). */
export const SERVICEACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const API_PORT = 443;

export type ApiRequest = { at: number; account: string; pod: string; status: number; labels?: Record<string, string | null>; reason?: string };

/** Whether the rendered Roles bound to service account `account` allow `verb` on the pod `name` (core group). */
export function allowed(objects: K8sObject[], namespace: string, account: string, verb: string, name: string): boolean {
  const roles = objects
    .filter((o) => o.kind === 'RoleBinding' && o.roleRef?.kind === 'Role')
    .filter((b) => (b.subjects ?? []).some((s: any) => s.kind === 'ServiceAccount' && s.name === account && (s.namespace ?? namespace) === namespace))
    .map((b) => objects.find((o) => o.kind === 'Role' && o.metadata.name === b.roleRef.name));
  const has = (list: string[] | undefined, x: string) => (list ?? []).some((v) => v === x || v === '*');
  return roles.some((role) =>
    (role?.rules ?? []).some(
      (r: any) => has(r.apiGroups, '') && has(r.resources, 'pods') && has(r.verbs, verb) && (!r.resourceNames?.length || r.resourceNames.includes(name)),
    ),
  );
}

/** A self-signed serving certificate (its own CA) for `ip`, as tls.key and tls.crt in `dir`. */
export function serverCertificate(dir: string, ip: string): { key: string; cert: string } {
  const key = join(dir, 'tls.key');
  const cert = join(dir, 'tls.crt');
  // prettier-ignore
  sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=pgfleet-local-apiserver',
    '-addext', `subjectAltName=IP:${ip},DNS:kubernetes.default.svc`, '-keyout', key, '-out', cert]);
  return { key, cert };
}

export class ApiServer {
  /** every pod request, in order: what the callbacks asked for and what they got */
  readonly requests: ApiRequest[] = [];
  private server?: Server;
  private readonly dir: string;
  /** token -> service account */
  private readonly tokens = new Map<string, string>();
  /** set while the control plane is frozen: requests wait for the thaw, as they do on a stopped API server */
  private frozen?: { promise: Promise<void>; release: () => void };

  constructor(
    private readonly node: LocalNode,
    private port = API_PORT,
  ) {
    this.dir = join(node.dir, 'apiserver');
  }

  get host(): string {
    return this.node.net.hostIp;
  }

  /** A CA and a serving certificate for the bridge's host address, then the listener. */
  async start(): Promise<void> {
    // New credentials for every start: tokens live in this process only.
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    const { key, cert } = serverCertificate(this.dir, this.host);
    this.server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, this.host, resolve);
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.node.log(`API server stand-in: https://${this.host}:${this.port} (pod label patches, authorised by the rendered Roles)`);
  }

  async stop(): Promise<void> {
    this.thaw();
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  freeze(): void {
    if (this.frozen) return;
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.frozen = { promise, release };
  }

  thaw(): void {
    this.frozen?.release();
    this.frozen = undefined;
  }

  /** The environment the kubelet gives every container: the `kubernetes` Service's address. */
  env(): Record<string, string> {
    return { KUBERNETES_SERVICE_HOST: this.host, KUBERNETES_SERVICE_PORT: String(this.port) };
  }

  /** The service-account volume of a pod that automounts its token (token, ca.crt, namespace), or undefined. */
  accountVolume(spec: any, gid: number): string | undefined {
    const account = spec.serviceAccountName ?? 'default';
    const rendered = this.node.objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === account);
    if (!(spec.automountServiceAccountToken ?? rendered?.automountServiceAccountToken ?? true)) return undefined;
    const dir = join(this.dir, 'accounts', account);
    if (!existsSync(join(dir, 'token'))) {
      mkdirSync(dir, { recursive: true });
      const token = randomBytes(24).toString('base64url');
      this.tokens.set(token, account);
      for (const [file, text] of [
        ['token', token],
        ['ca.crt', readFileSync(join(this.dir, 'tls.crt'), 'utf8')],
        ['namespace', this.node.namespace],
      ]) {
        writeFileSync(join(dir, file!), text!);
        chownSync(join(dir, file!), process.getuid!(), gid); // root:postgres 0640 as the kubelet leaves it (fsGroup)
        chmodSync(join(dir, file!), 0o640);
      }
    }
    return dir;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    await this.frozen?.promise;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const account = token ? this.tokens.get(token) : undefined;
    const path = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/?]+)$/.exec((req.url ?? '').split('?')[0]!);
    const record: ApiRequest = { at: Date.now(), account: account ?? '', pod: path?.[2] ?? req.url ?? '', status: 0 };
    const answer = (status: number, reason: string, object?: unknown) => {
      record.status = status;
      if (status >= 300) record.reason = reason;
      this.requests.push(record);
      this.node.log(
        status < 300
          ? `API server stand-in: pods/${record.pod} labels ${JSON.stringify(record.labels)}`
          : `API server stand-in: ${req.method} ${req.url} from ${account ?? 'an unknown token'}: ${status} ${reason}`,
      );
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(object ?? { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: reason, code: status }));
    };
    if (!account) return answer(401, 'Unauthorized');
    if (!path || path[1] !== this.node.namespace) return answer(404, `the stand-in serves pods in namespace ${this.node.namespace} only`);
    if (req.method !== 'PATCH') return answer(405, `${req.method} is not served by the stand-in (only PATCH of pod labels)`);
    if (!allowed(this.node.objects, this.node.namespace, account, 'patch', path[2]!))
      return answer(403, `serviceaccount ${account} cannot patch pods/${path[2]}: no rendered Role allows it`);
    if (req.headers['content-type'] !== 'application/merge-patch+json') return answer(415, `content type ${req.headers['content-type']}: merge patch expected`);
    const pod = this.node.pods.find((p) => p.name === path[2] && p.kind !== 'Job');
    if (!pod) return answer(404, `pods "${path[2]}" not found`);
    let patch: any;
    try {
      patch = JSON.parse(body);
    } catch {
      return answer(400, 'the body is not JSON');
    }
    const labels = patch?.metadata?.labels;
    if (Object.keys(patch ?? {}).join() !== 'metadata' || Object.keys(patch.metadata).join() !== 'labels' || typeof labels !== 'object' || !labels)
      return answer(422, 'the stand-in applies patches of metadata.labels only');
    record.labels = labels;
    for (const [k, v] of Object.entries<string | null>(labels)) {
      if (v === null) delete pod.labels[k];
      else pod.labels[k] = String(v);
    }
    answer(200, 'OK', { kind: 'Pod', apiVersion: 'v1', metadata: { name: pod.name, namespace: this.node.namespace, labels: pod.labels } });
  }
}
