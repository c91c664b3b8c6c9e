// What every part of the local backend shares: the options, the rendered objects, the pods planned from them, the
// network plan and the record of what runs (state.json, for teardown). One machine plays one Kubernetes node.
import type { ChildProcess } from 'node:child_process';
import type { K8sObject } from '../helm.ts';
import type { Readiness } from './endpoints.ts';
import type { NetPlan } from './net.ts';
import { selectorMatches } from './pod.ts';
import { saveState, stateDir, type State } from './state.ts';
import type { SetValues } from '../../../schema/values-paths.ts';

export type LocalOptions = {
  /** cluster name: state dir .local/<name>, namespace and bridge prefix */
  name?: string;
  values?: string[];
  set?: SetValues;
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

export type Pod = {
  name: string;
  kind: 'StatefulSet' | 'Deployment' | 'Job';
  owner: string;
  /** shard (= Patroni scope) of database and pooler pods */
  shard?: string;
  /** the pod's labels now: the template's, plus what pods patched through the API server (the `role` label) */
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
  terminationGraceS: number;
};

export class LocalNode {
  readonly name: string;
  readonly dir: string;
  readonly namespace: string;
  readonly opts: LocalOptions;
  readonly log: (line: string) => void;
  state!: State;
  net!: NetPlan;
  objects: K8sObject[] = [];
  pods: Pod[] = [];
  /** set when the cluster goes down: nothing is restarted after that */
  stopping = false;

  constructor(opts: LocalOptions) {
    this.opts = opts;
    this.name = opts.name ?? 'pgfleet';
    if (!/^[a-z][a-z0-9]{0,7}$/.test(this.name)) throw new Error(`local cluster name ${this.name}: 1-8 lowercase letters/digits (it prefixes interface names)`);
    this.dir = stateDir(this.name);
    this.namespace = opts.namespace ?? 'pgfleet';
    this.log = opts.log ?? (() => {});
  }

  /** the network namespace etcd runs in */
  get etcdNs(): string {
    return `${this.name}-etcd`;
  }
  get etcdIp(): string {
    return `${this.net.subnet}.2`;
  }
  get s3Ip(): string {
    return `${this.net.subnet}.3`;
  }
  /** Job pods (backups) run one at a time in a namespace of their own. */
  get jobIp(): string {
    return `${this.net.subnet}.4`;
  }

  save(): void {
    saveState(this.state);
  }

  pod(name: string): Pod {
    const p = this.pods.find((x) => x.name === name);
    if (!p) throw new Error(`no pod ${name}; pods: ${this.pods.map((x) => x.name).join(', ')}`);
    return p;
  }

  dbPods(shard?: string): Pod[] {
    return this.pods.filter((p) => p.kind === 'StatefulSet' && (shard === undefined || p.shard === shard));
  }

  services(): K8sObject[] {
    return this.objects.filter((o) => o.kind === 'Service');
  }

  /** Pods that may back the Service: its selector without Patroni's `role` label, which changes at run time. */
  selected(svc: K8sObject): Pod[] {
    return this.pods.filter((p) => selectorMatches(svc.spec.selector ?? {}, p.templateLabels, ['role']));
  }
}
