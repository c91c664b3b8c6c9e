// The cluster interface the drills are written against. Two backends implement it: scripts/lib/local (processes
// on this machine, built from the rendered manifests) and scripts/lib/kube (kubectl against any context).
// Drills import only this file.
import type pg from 'pg';

export type Role = 'primary' | 'replica' | 'unknown';

export type Member = {
  /** pod name = Patroni member name */
  name: string;
  shard: string;
  role: Role;
  /** Patroni state: running, streaming, starting, stopped, ... ('unreachable' when the API does not answer) */
  state: string;
  /** pod IP */
  host: string;
  timeline?: number;
  /** replication lag in bytes (replicas) */
  lag?: number;
  /** this replica is the synchronous standby */
  sync?: boolean;
};

/** Where a query or a client goes: a Service of a shard, or one member (run inside the pod, like kubectl exec). */
export type Endpoint = { service: 'primary' | 'replicas' | 'rw' | 'ro'; shard: string } | { member: string };

/** What a client needs to connect (the backend may forward a port to provide it). */
export type ConnectionInfo = {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** PEM CA to verify the server with, when the endpoint serves TLS */
  ca?: string;
  /** whether the endpoint speaks TLS to clients (a pooler may not) */
  tls: boolean;
};

export type Signal = 'SIGKILL' | 'SIGTERM';

/** A write the server acknowledged: its id, when it was sent and acknowledged (epoch ms), and which server did. */
export type Ack = { id: number; sentAt: number; ackAt: number; server: string };
export type ClientError = { id: number; at: number; message: string };
export type WriterOptions = { intervalMs?: number; timeoutMs?: number; firstId?: number };

/** What a drill reads from its writer: every acknowledgement and error as they happen. */
export interface DrillWriter {
  readonly acks: Ack[];
  readonly errors: ClientError[];
  readonly run: string;
  start(): void;
  stop(): Promise<void>;
}

export interface Cluster {
  readonly backend: 'local' | 'kube';
  /** shard names (= Patroni scopes) */
  shards(): Promise<string[]>;
  /** every database member of a shard (or of all shards), with role and state as Patroni reports them */
  members(shard?: string): Promise<Member[]>;
  /** the member holding the shard's leader lock, if any */
  primary(shard: string): Promise<Member | undefined>;
  /** Patroni's dynamic configuration of the shard (ttl, loop_wait, synchronous_mode, ...) */
  dynamicConfig(shard: string): Promise<Record<string, any>>;
  /** the pooler pods of a shard (empty with pooler.type=none) */
  poolers(shard: string, pool?: 'rw' | 'ro'): Promise<string[]>;
  /** SIGKILL: every process of the pod dies at once (a node or container crash); SIGTERM: a pod deletion (preStop hooks, then SIGTERM, SIGKILL after the grace period). The pod stays down until start(). */
  kill(pod: string, signal: Signal): Promise<void>;
  /** brings a killed pod back (kubelet / StatefulSet recreating it); resolves once its processes run (a pooler pod: once it is Ready, back in its Services) */
  start(pod: string): Promise<void>;
  /**
   * SIGSTOP every process of the pod (a VM pause, a stalled disk, a long GC: nothing exits, nothing answers) until
   * thaw() sends SIGCONT. Optional: a backend that cannot reach a pod's processes leaves it out.
   */
  freeze?(pod: string): Promise<void>;
  thaw?(pod: string): Promise<void>;
  /**
   * Stops the node that runs `pod`, every process on it at once, its kubelet included (a machine that dies or
   * hangs); resolves with the node's name. startNode() resumes it. Optional: only a backend that reaches its
   * nodes (kind) can.
   */
  stopNode?(pod: string): Promise<string>;
  startNode?(node: string): Promise<void>;
  /**
   * Stops the S3 endpoint the backups go to (connections are refused) until startS3(). Optional: only a backend
   * whose caller runs the endpoint (e2e:kind's s3rver) can.
   */
  stopS3?(): Promise<void>;
  startS3?(): Promise<void>;
  /**
   * SIGSTOP every process of the control plane (kube: the API server, etcd, the controllers and the scheduler;
   * local: etcd, its DCS) while the nodes, their kubelets and the pods run on, until thawControlPlane(): a managed
   * control plane's outage. Optional: only a backend that reaches those processes can.
   */
  freezeControlPlane?(): Promise<void>;
  thawControlPlane?(): Promise<void>;
  /** the node a pod runs on, and whether that node also runs the control plane (stopping it stops the DCS too) */
  nodeOf?(pod: string): Promise<{ name: string; controlPlane: boolean }>;
  /** whether the control plane considers the node Ready */
  nodeReady?(node: string): Promise<boolean>;
  /** the addresses behind the shard's primary Service that clients are sent to right now */
  primaryEndpoints?(shard: string): Promise<string[]>;
  /** isolates the pod from every other pod, Service and the DCS */
  partition(pod: string): Promise<void>;
  /** removes every partition */
  heal(): Promise<void>;
  /** planned switchover through Patroni; resolves with the new primary's name */
  switchover(shard: string, candidate?: string): Promise<string>;
  /** runs SQL; rows come back as arrays of text. Member endpoints run as the superuser inside the pod. */
  sql(endpoint: Endpoint, query: string, opts?: { timeoutMs?: number; database?: string }): Promise<string[][]>;
  /** connection parameters for a client (the application role) */
  connection(endpoint: Endpoint): Promise<ConnectionInfo>;
  /**
   * A writer of the drill table through `endpoint` that runs where the application's clients run (kube: a pod in
   * the cluster). Optional: without it the drills write from this process through connection().
   */
  writer?(endpoint: Endpoint, run: string, opts?: WriterOptions): Promise<DrillWriter>;
  /** the Service a write client should use: the rw pooler, or the primary Service with pooler.type=none */
  writeEndpoint(shard: string): Promise<Endpoint>;
  /** wipes a member's data volume and starts it again (replica rebuild) */
  wipe(pod: string): Promise<void>;
  /** whether backups (pgBackRest) are rendered */
  backupsEnabled(): Promise<boolean>;
  /** runs a backup of the shard now (what the CronJob would run); resolves with the backup label */
  backup(shard: string, type?: 'full' | 'diff' | 'incr'): Promise<string>;
  /** restores the shard in place to a point in time (stop all members, restore the leader, re-bootstrap replicas) */
  restore(shard: string, target: Date): Promise<void>;
  /** stops whatever the backend started for its own use (port-forwards, clients); the cluster itself stays */
  close(): Promise<void>;
}

/** node-postgres settings for a client of `info`: verify-ca against the cluster CA (clients may dial IPs, so the name is not checked). */
export function clientConfig(info: ConnectionInfo): pg.ClientConfig {
  return {
    host: info.host,
    port: info.port,
    user: info.user,
    password: info.password,
    database: info.database,
    connectionTimeoutMillis: 3000,
    ssl: info.tls ? (info.ca ? { ca: info.ca, checkServerIdentity: () => undefined } : { rejectUnauthorized: false }) : false,
  };
}
