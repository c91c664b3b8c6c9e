// The drill client: inserts a marker row every ~20 ms through one endpoint and records every acknowledged id,
// the server that acknowledged it (inet_server_addr(): the pod behind the Service or pooler) and every error.
// Reusable outside drills (benchmarks): it only needs connection parameters.
import pg from 'pg';
import { clientConfig, type Ack, type ClientError, type ConnectionInfo, type DrillWriter, type WriterOptions } from '../cluster.ts';
import { sleep } from '../proc.ts';

export type { Ack, ClientError, DrillWriter, WriterOptions };

export const TABLE = 'pgfleet_drill';

export const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS ${TABLE} (id bigint PRIMARY KEY, run text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(), server text)`;

export class Writer implements DrillWriter {
  readonly acks: Ack[] = [];
  readonly errors: ClientError[] = [];
  private running = false;
  private loop?: Promise<void>;
  private client?: pg.Client;
  private seq: number;

  /** `target`: connection parameters, or a function asked again at every reconnect (a backend may re-forward a port). */
  constructor(
    private target: ConnectionInfo | (() => Promise<ConnectionInfo>),
    readonly run: string,
    private opts: WriterOptions = {},
  ) {
    this.seq = opts.firstId ?? Date.now() * 1000;
  }

  static async prepare(info: ConnectionInfo): Promise<void> {
    const c = new pg.Client(clientConfig(info));
    c.on('error', () => {
      /* surfaces through the pending call */
    });
    await c.connect();
    try {
      await c.query(CREATE_TABLE);
    } finally {
      await c.end().catch(() => {});
    }
  }

  start(): void {
    this.running = true;
    this.loop = this.work();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
  }

  private drop(): void {
    const c = this.client as any;
    this.client = undefined;
    // Never wait on a connection that may hang (a partitioned server): cut the socket.
    try {
      c?.connection?.stream?.destroy();
    } catch {
      /* already closed */
    }
    c?.end().catch(() => {});
  }

  private async work(): Promise<void> {
    const interval = this.opts.intervalMs ?? 20;
    const timeout = this.opts.timeoutMs ?? 5000;
    while (this.running) {
      const t0 = Date.now();
      const id = ++this.seq;
      try {
        if (!this.client) {
          const info = typeof this.target === 'function' ? await this.target() : this.target;
          const c = new pg.Client(clientConfig(info));
          c.on('error', () => {
            if (this.client === c) this.drop();
          });
          await withTimeout(c.connect(), timeout, 'connect', () => {
            try {
              (c as any).connection?.stream?.destroy();
            } catch {
              /* */
            }
          });
          this.client = c;
        }
        const c = this.client;
        const r = await withTimeout(
          c.query(`INSERT INTO ${TABLE} (id, run, server) VALUES ($1, $2, host(inet_server_addr())) RETURNING server`, [id, this.run]),
          timeout,
          'insert',
          () => this.drop(),
        );
        this.acks.push({ id, sentAt: t0, ackAt: Date.now(), server: r.rows[0].server });
      } catch (err) {
        this.errors.push({ id, at: Date.now(), message: (err as Error).message });
        this.drop();
        await sleep(50);
      }
      const wait = interval - (Date.now() - t0);
      if (wait > 0) await sleep(wait);
    }
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, rej) => {
    timer = setTimeout(() => {
      onTimeout();
      rej(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** The longest stretch without an acknowledgement that ends after `from`: the write gap the fault caused. */
export function writeGap(acks: Ack[], from: number): { gapMs: number; lastBefore?: Ack; firstAfter?: Ack } {
  const sorted = [...acks].sort((a, b) => a.ackAt - b.ackAt);
  let best = { gapMs: 0 } as { gapMs: number; lastBefore?: Ack; firstAfter?: Ack };
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.ackAt < from) continue;
    if (b.ackAt - a.ackAt > best.gapMs) best = { gapMs: b.ackAt - a.ackAt, lastBefore: a, firstAfter: b };
  }
  return best;
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx]!;
}

export const summary = (values: number[]) => ({ p50: percentile(values, 50), p95: percentile(values, 95), max: values.length ? Math.max(...values) : NaN });
