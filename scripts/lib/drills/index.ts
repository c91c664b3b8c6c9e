// Failover drills: each breaks the cluster on purpose while a writer inserts marker rows, then measures what the
// client saw. Knows ONLY the cluster interface (scripts/lib/cluster.ts), so it runs against local processes and
// real clusters alike.
import { type Cluster, type Endpoint, type Member, type WriterOptions } from '../cluster.ts';
import { TABLE, Writer, summary, writeGap, type Ack, type DrillWriter } from './writer.ts';
import { sleep, waitFor } from '../proc.ts';

export type Stat = { p50: number; p95: number; max: number };

export type RunResult = {
  run: number;
  writeGapMs: number;
  acknowledgedWrites: number;
  acknowledgedWritesLost: number;
  clientErrors: number;
  rejoinMs?: number;
  oldPrimary?: string;
  newPrimary?: string;
  /** partition: writes acknowledged by the isolated old primary after the new primary's first acknowledgement */
  splitBrainWrites?: number;
  /** freeze: the resumed old primary held the leader lock again */
  lockTakenBack?: boolean;
  /** node-loss: when the new primary acknowledged its first write, after the fault (the client may still wait on a pooler pod of the lost node) */
  newPrimaryAckMs?: number;
  /** node-loss: when the control plane marked the stopped node NotReady, after the fault */
  nodeNotReadyMs?: number;
  /** node-loss: the most addresses seen behind the primary Service at once (sampled), and for how long there was more than one */
  primaryEndpointsMax?: number;
  multiplePrimaryEndpointsMs?: number;
  /** control-plane-loss: whether Patroni's failsafe mode was on, and whether the old primary is primary afterwards on its timeline (nobody was promoted) */
  failsafeMode?: boolean;
  primaryKept?: boolean;
  /** control-plane-loss: writes acknowledged while the control plane was frozen and after the leader lock had expired */
  writesAfterLockExpiry?: number;
  /** control-plane-loss: when the control plane answered again, after the thaw */
  controlPlaneBackMs?: number;
  /** restore: rows present after the restore that were written after the target time */
  extraRows?: number;
  notes?: string[];
};

export type DrillResult = {
  scenario: string;
  runs: number;
  shard: string;
  writeGapMs: Stat;
  acknowledgedWrites: number;
  acknowledgedWritesLost: number;
  clientErrors: number;
  rejoinMs?: Stat;
  splitBrainWrites?: number;
  extraRows?: number;
  nodeNotReadyMs?: Stat;
  newPrimaryAckMs?: Stat;
  primaryEndpointsMax?: number;
  multiplePrimaryEndpointsMs?: Stat;
  controlPlaneBackMs?: Stat;
  synchronousMode: boolean;
  ttl?: number;
  perRun: RunResult[];
  /** invariant violations (lost writes in synchronous mode, split brain, no recovery) */
  failures: string[];
};

export type DrillOptions = {
  runs?: number;
  shard?: string;
  log?: (line: string) => void;
  /** seconds to wait for recovery steps */
  timeoutS?: number;
  /** chaos: total duration in seconds */
  durationS?: number;
  /** deterministic randomness for chaos */
  seed?: number;
};

type Ctx = { cluster: Cluster; shard: string; log: (l: string) => void; timeoutMs: number; run: number; opts: DrillOptions };
type Scenario = (ctx: Ctx) => Promise<RunResult>;

const now = () => Date.now();

async function healthy(ctx: Ctx): Promise<Member> {
  const { cluster, shard } = ctx;
  const sync = (await cluster.dynamicConfig(shard)).synchronous_mode;
  return waitFor(
    `shard ${shard} to be healthy (one primary, every replica running${sync ? ', a synchronous standby' : ''}${cluster.primaryEndpoints ? ', the primary alone behind the primary Service' : ''})`,
    ctx.timeoutMs,
    async () => {
      const ms = await cluster.members(shard);
      const p = ms.filter((m) => m.role === 'primary' && m.state === 'running');
      if (p.length !== 1) return undefined;
      if (!ms.every((m) => m.role === 'primary' || (m.role === 'replica' && ['running', 'streaming'].includes(m.state)))) return undefined;
      if (sync && ms.length > 1 && !ms.some((m) => m.sync)) return undefined;
      // A stale role label would send clients to a replica, or to no one.
      if (cluster.primaryEndpoints && (await cluster.primaryEndpoints(shard)).join() !== p[0]!.host) return undefined;
      return p[0];
    },
    500,
  );
}

async function newPrimary(ctx: Ctx, old: string): Promise<Member> {
  return waitFor(
    `a new primary other than ${old}`,
    ctx.timeoutMs,
    async () => {
      const p = await ctx.cluster.primary(ctx.shard);
      return p && p.name !== old && p.state === 'running' ? p : undefined;
    },
    100,
  );
}

async function ackedBy(ctx: Ctx, w: DrillWriter, host: string, after: number): Promise<Ack> {
  return waitFor(`a write acknowledged by ${host}`, ctx.timeoutMs, async () => w.acks.find((a) => a.server === host && a.ackAt > after), 50);
}

async function rejoined(ctx: Ctx, name: string): Promise<number> {
  await waitFor(
    `${name} to rejoin as a replica`,
    ctx.timeoutMs,
    async () => {
      const m = (await ctx.cluster.members(ctx.shard)).find((x) => x.name === name);
      return m && m.role === 'replica' && ['running', 'streaming'].includes(m.state);
    },
    250,
  );
  return now();
}

/** Acknowledged ids missing from the shard after the drill (read through the primary Service). */
async function lostWrites(ctx: Ctx, acks: Ack[], run: string): Promise<number> {
  const rows = await waitFor('the primary Service to answer', ctx.timeoutMs, async () =>
    ctx.cluster.sql({ service: 'primary', shard: ctx.shard }, `SELECT id FROM ${TABLE} WHERE run = '${run}'`),
  );
  const present = new Set(rows.map((r) => Number(r[0])));
  return acks.filter((a) => !present.has(a.id)).length;
}

/** Creates the drill table through the write endpoint, retrying while the endpoint settles (a Service whose pods just became ready). */
async function prepare(ctx: Ctx, endpoint: Endpoint): Promise<void> {
  await waitFor(
    'the write endpoint to accept the drill table',
    ctx.timeoutMs,
    async () => {
      await Writer.prepare(await ctx.cluster.connection(endpoint));
      return true;
    },
    500,
  );
}

/**
 * A writer where the backend runs its clients (kube: a pod in the cluster), else from here; connection() is asked
 * again at every reconnect, so a backend can point the client at a new forward.
 */
const newWriter = async (cluster: Cluster, endpoint: Endpoint, run: string, opts: WriterOptions = {}): Promise<DrillWriter> =>
  cluster.writer ? cluster.writer(endpoint, run, opts) : new Writer(() => cluster.connection(endpoint), run, opts);

async function withWriter(
  ctx: Ctx,
  name: string,
  body: (w: DrillWriter, hostOf: (m: string) => Promise<string>) => Promise<Partial<RunResult> & { faultAt: number }>,
  writer: { timeoutMs?: number } = {},
): Promise<RunResult> {
  const { cluster, shard } = ctx;
  await healthy(ctx);
  const endpoint = await cluster.writeEndpoint(shard);
  await prepare(ctx, endpoint);
  const runId = `${name}-${ctx.run}-${now()}`;
  const w = await newWriter(cluster, endpoint, runId, writer);
  w.start();
  const hosts = new Map((await cluster.members(shard)).map((m) => [m.name, m.host]));
  const hostOf = async (m: string) => hosts.get(m) ?? (await cluster.members(shard)).find((x) => x.name === m)!.host;
  let r: Partial<RunResult> & { faultAt: number };
  try {
    await waitFor('the writer to get its first acknowledgements', ctx.timeoutMs, async () => w.acks.length >= 20, 50);
    r = await body(w, hostOf);
    await sleep(1000);
  } finally {
    await w.stop();
  }
  await healthy(ctx);
  const lost = await lostWrites(ctx, w.acks, runId);
  const gap = writeGap(w.acks, r.faultAt);
  const errors = w.errors.filter((e) => e.at >= r.faultAt - 1000).length;
  ctx.log(
    `  run ${ctx.run}: gap ${(gap.gapMs / 1000).toFixed(2)} s, ${w.acks.length} acked, ${lost} lost, ${w.errors.length} client errors${r.rejoinMs !== undefined ? `, rejoin ${(r.rejoinMs / 1000).toFixed(1)} s` : ''}`,
  );
  const { faultAt: _, ...rest } = r;
  const kinds = new Map<string, number>();
  for (const e of w.errors) kinds.set(e.message, (kinds.get(e.message) ?? 0) + 1);
  const gapNote =
    gap.lastBefore && gap.firstAfter
      ? [
          `longest gap from ${((gap.lastBefore.ackAt - r.faultAt) / 1000).toFixed(2)} s to ${((gap.firstAfter.ackAt - r.faultAt) / 1000).toFixed(2)} s after the fault`,
        ]
      : [];
  const firstAt = new Map<string, number>();
  for (const e of w.errors) if (!firstAt.has(e.message)) firstAt.set(e.message, e.at);
  const errorNotes = [
    ...gapNote,
    ...[...kinds]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([m, n]) => `${n}x client error: ${m} (first ${((firstAt.get(m)! - r.faultAt) / 1000).toFixed(2)} s after the fault)`),
  ];
  return {
    run: ctx.run,
    writeGapMs: gap.gapMs,
    acknowledgedWrites: w.acks.length,
    acknowledgedWritesLost: lost,
    clientErrors: w.errors.length,
    ...rest,
    notes: [...(rest.notes ?? []), ...errorNotes, ...(errors !== w.errors.length ? [`${w.errors.length - errors} errors before the fault`] : [])],
  };
}

/**
 * A primary serving writes again after `old` was killed: another member, or the same one once it was promoted
 * again (a new timeline; the kubelet restarts a killed container at once and it may find its lock still valid),
 * not while it still runs as before.
 */
const primaryAgain = (ctx: Ctx, old: Member): Promise<Member> =>
  waitFor(
    'a primary serving writes again',
    ctx.timeoutMs,
    async () => {
      const p = await ctx.cluster.primary(ctx.shard);
      if (!p || p.state !== 'running') return undefined;
      return p.name !== old.name || (p.timeline ?? 0) > (old.timeline ?? 0) ? p : undefined;
    },
    100,
  );

/**
 * Kill the primary with `signal`. Where the pod stays down until start() (the local backend), a replica takes over.
 * Where the kubelet restarts killed containers at once (Kubernetes), the same member may come back, find its own
 * leader lock still valid and keep it: writes resume without a failover, and that counts as recovery too.
 */
const killPrimary =
  (signal: 'SIGKILL' | 'SIGTERM'): Scenario =>
  (ctx) =>
    withWriter(ctx, signal === 'SIGKILL' ? 'failover' : 'graceful', async (w, hostOf) => {
      const old = (await ctx.cluster.primary(ctx.shard))!;
      ctx.log(`  ${signal} ${old.name} (primary)`);
      const faultAt = now();
      await ctx.cluster.kill(old.name, signal);
      const next = await primaryAgain(ctx, old);
      await ackedBy(ctx, w, await hostOf(next.name), faultAt);
      await ctx.cluster.start(old.name);
      if (next.name === old.name) {
        return { faultAt, oldPrimary: old.name, newPrimary: old.name, notes: [`${old.name} was restarted in place and kept its leader lock (no failover)`] };
      }
      const rejoinAt = await rejoined(ctx, old.name);
      return { faultAt, oldPrimary: old.name, newPrimary: next.name, rejoinMs: rejoinAt - faultAt };
    });

const switchover: Scenario = (ctx) =>
  withWriter(ctx, 'switchover', async (w, hostOf) => {
    const old = (await ctx.cluster.primary(ctx.shard))!;
    const faultAt = now();
    const next = await ctx.cluster.switchover(ctx.shard);
    ctx.log(`  switchover ${old.name} -> ${next}`);
    await ackedBy(ctx, w, await hostOf(next), faultAt);
    const rejoinAt = await rejoined(ctx, old.name);
    return { faultAt, oldPrimary: old.name, newPrimary: next, rejoinMs: rejoinAt - faultAt };
  });

/**
 * SIGSTOP every process of the primary's pod for longer than `ttl` (a VM pause, a stalled disk), then SIGCONT. A
 * replica takes over meanwhile; the resumed old primary must step down and rejoin, never take the lock back (what
 * Patroni 3.0.2 with etcd3 did, rewinding the new primary's acknowledged writes). The writer gives up on a
 * statement after 2 s, as an application with a statement timeout would.
 */
const freeze: Scenario = async (ctx) => {
  const { cluster, shard } = ctx;
  if (!cluster.freeze || !cluster.thaw) throw new Error(`the ${cluster.backend} backend cannot freeze a pod's processes`);
  const ttl = Number((await cluster.dynamicConfig(shard)).ttl ?? 30);
  const holdMs = (ctx.opts.durationS ?? ttl + 20) * 1000;
  return withWriter(
    ctx,
    'freeze',
    async (w, hostOf) => {
      const old = (await cluster.primary(shard))!;
      ctx.log(`  SIGSTOP ${old.name} (primary) for ${holdMs / 1000} s (ttl ${ttl} s)`);
      const faultAt = now();
      await cluster.freeze!(old.name);
      let next: Member;
      try {
        next = await newPrimary(ctx, old.name);
        await ackedBy(ctx, w, await hostOf(next.name), faultAt);
        await sleep(Math.max(0, faultAt + holdMs - now()));
      } finally {
        await cluster.thaw!(old.name);
      }
      ctx.log(`  SIGCONT ${old.name}; ${next.name} must keep the lock`);
      // Watch the lock from the moment the old primary resumes until it has rejoined as a replica.
      const holders = new Set<string>();
      let rejoinAt = 0;
      await waitFor(
        `${old.name} to rejoin as a replica`,
        ctx.timeoutMs,
        async () => {
          const ms = await cluster.members(shard);
          for (const m of ms) if (m.role === 'primary') holders.add(m.name);
          const o = ms.find((x) => x.name === old.name);
          if (o && o.role === 'replica' && ['running', 'streaming'].includes(o.state)) rejoinAt = now();
          return rejoinAt;
        },
        100,
      );
      const notes = holders.has(old.name) ? [`the resumed old primary ${old.name} took the leader lock back`] : [];
      return { faultAt, oldPrimary: old.name, newPrimary: next.name, rejoinMs: rejoinAt - faultAt, lockTakenBack: holders.has(old.name), notes };
    },
    { timeoutMs: 2000 },
  );
};

/**
 * Moves the shard's primary to a member whose node does not run the control plane, when the backend knows nodes
 * (kind's control-plane node also schedules pods). Faults aimed at "the primary's node" need it: a NetworkPolicy
 * never cuts a pod off its own node, and that node may be the API server's.
 */
async function offControlPlane(ctx: Ctx, why: string): Promise<void> {
  const { cluster, shard } = ctx;
  if (!cluster.nodeOf) return;
  const primary = await healthy(ctx);
  if (!(await cluster.nodeOf(primary.name)).controlPlane) return;
  let target: string | undefined;
  // the synchronous standby first: in synchronous mode Patroni switches over to no other member
  const replicas = (await cluster.members(shard)).filter((x) => x.role === 'replica').sort((a, b) => Number(Boolean(b.sync)) - Number(Boolean(a.sync)));
  for (const m of replicas)
    if (!(await cluster.nodeOf(m.name)).controlPlane) {
      target = m.name;
      break;
    }
  if (!target) throw new Error(`every member of ${shard} runs on a control-plane node (${why})`);
  ctx.log(`  ${primary.name} runs on a control-plane node (${why}): switching over to ${target} first`);
  // Patroni refuses a candidate that is still catching up after the previous run: try again until it is ready
  await waitFor(`a switchover to ${target}`, ctx.timeoutMs, async () => (await cluster.switchover(shard, target)) === target, 3000);
  await healthy(ctx);
}

/**
 * Stops the node that holds the primary (every process on it, kubelet included), keeps it stopped until the
 * control plane has marked it NotReady and then some, and starts it again. Meanwhile it samples the addresses
 * behind the primary Service: the old primary's stay until the node controller reacts, whatever Patroni decides.
 */
const nodeLoss: Scenario = async (ctx) => {
  const { cluster, shard } = ctx;
  if (!cluster.stopNode || !cluster.startNode || !cluster.nodeReady || !cluster.primaryEndpoints || !cluster.nodeOf)
    throw new Error(`the ${cluster.backend} backend cannot stop a node`);
  await offControlPlane(ctx, 'stopping it would stop the DCS too (every shard would lose its leader lock)');
  return withWriter(ctx, 'node-loss', async (w, hostOf) => {
    const old = (await cluster.primary(shard))!;
    let sampling = true;
    let most = 0;
    let multipleMs = 0;
    const sampler = (async () => {
      let last = now();
      while (sampling) {
        const n = (await cluster.primaryEndpoints!(shard).catch(() => [])).length;
        const t = now();
        most = Math.max(most, n);
        if (n > 1) multipleMs += t - last;
        last = t;
        await sleep(250);
      }
    })();
    const faultAt = now();
    let node = '';
    let next: Member;
    let notReadyAt: number;
    let rejoinAt: number;
    let firstNew: Ack;
    try {
      try {
        node = await cluster.stopNode!(old.name);
        ctx.log(`  stopped node ${node} (it holds ${old.name}, the primary)`);
        next = await newPrimary(ctx, old.name);
        firstNew = await ackedBy(ctx, w, await hostOf(next.name), faultAt);
        notReadyAt = await waitFor(`node ${node} to be marked NotReady`, ctx.timeoutMs, async () => !(await cluster.nodeReady!(node)) && now(), 500);
        ctx.log(`  ${next.name} promoted; ${node} NotReady after ${((notReadyAt - faultAt) / 1000).toFixed(1)} s`);
        // until the old primary's address has left the Service (the node controller marks its pods not ready)
        await waitFor(
          `the primary Service to hold only ${next.name}`,
          ctx.timeoutMs,
          async () => {
            const eps = await cluster.primaryEndpoints!(shard);
            return eps.length === 1 && eps[0] === (await hostOf(next.name));
          },
          500,
        );
      } finally {
        if (node) await cluster.startNode!(node);
      }
      ctx.log(`  started node ${node} again`);
      rejoinAt = await rejoined(ctx, old.name);
    } finally {
      sampling = false;
      await sampler;
    }
    return {
      faultAt,
      oldPrimary: old.name,
      newPrimary: next.name,
      rejoinMs: rejoinAt - faultAt,
      nodeNotReadyMs: notReadyAt - faultAt,
      primaryEndpointsMax: most,
      multiplePrimaryEndpointsMs: multipleMs,
      newPrimaryAckMs: firstNew.ackAt - faultAt,
      notes: [
        `first write acknowledged by the new primary ${((firstNew.ackAt - faultAt) / 1000).toFixed(1)} s after the fault`,
        `node ${node} NotReady after ${((notReadyAt - faultAt) / 1000).toFixed(1)} s; up to ${most} addresses behind the primary Service, more than one for ${(multipleMs / 1000).toFixed(1)} s`,
      ],
    };
  });
};

/**
 * Freezes the control plane for longer than `ttl` while every node and pod runs on (a managed control plane's
 * outage, an etcd that lost quorum): no leader lock can be renewed. With failsafe mode a primary that still reaches
 * every member keeps serving, so writes must be acknowledged after the lock expired; without it, it demotes itself
 * once it cannot renew its lock. Either way nothing acknowledged may be lost, and the shard must have one primary
 * once the control plane is back. Whether that primary is the old one on its old timeline is measured: Patroni may
 * demote and promote it again when the control plane returns.
 */
const controlPlaneLoss: Scenario = async (ctx) => {
  const { cluster, shard } = ctx;
  if (!cluster.freezeControlPlane || !cluster.thawControlPlane) throw new Error(`the ${cluster.backend} backend cannot freeze the control plane`);
  const config = await cluster.dynamicConfig(shard);
  const ttl = Number(config.ttl ?? 30);
  const failsafeMode = Boolean(config.failsafe_mode);
  const holdMs = (ctx.opts.durationS ?? ttl + 30) * 1000;
  return withWriter(ctx, 'control-plane-loss', async (w, hostOf) => {
    const old = (await cluster.primary(shard))!;
    ctx.log(`  freezing the control plane for ${holdMs / 1000} s (ttl ${ttl} s, failsafe mode ${failsafeMode ? 'on' : 'off'}); ${old.name} is the primary`);
    const faultAt = now();
    try {
      await cluster.freezeControlPlane!();
      await sleep(Math.max(0, faultAt + holdMs - now()));
    } finally {
      await cluster.thawControlPlane!();
    }
    const thawAt = now();
    const backMs = (await waitFor('the control plane to answer again', ctx.timeoutMs, async () => (await cluster.members(shard)) && now(), 1000)) - thawAt;
    const after = await healthy(ctx);
    await ackedBy(ctx, w, await hostOf(after.name), thawAt);
    const primaryKept = after.name === old.name && (after.timeline ?? 0) === (old.timeline ?? 0);
    const writesAfterLockExpiry = w.acks.filter((a) => a.ackAt > faultAt + ttl * 1000 && a.ackAt < thawAt).length;
    ctx.log(
      `  thawed; the control plane answered after ${(backMs / 1000).toFixed(1)} s; ${primaryKept ? `${old.name} still primary, same timeline` : `primary now ${after.name} (timeline ${after.timeline})`}; ${writesAfterLockExpiry} writes acknowledged after the lock expired`,
    );
    return {
      faultAt,
      oldPrimary: old.name,
      newPrimary: after.name,
      failsafeMode,
      primaryKept,
      writesAfterLockExpiry,
      controlPlaneBackMs: backMs,
      notes: [`control plane frozen ${(holdMs / 1000).toFixed(0)} s; answered ${(backMs / 1000).toFixed(1)} s after the thaw`],
    };
  });
};

const partition: Scenario = async (ctx) => {
  await offControlPlane(ctx, 'a NetworkPolicy never cuts a pod off its own node, where the API server runs');
  return isolate(ctx);
};

const isolate: Scenario = (ctx) =>
  withWriter(ctx, 'partition', async (w, hostOf) => {
    const old = (await ctx.cluster.primary(ctx.shard))!;
    const oldHost = await hostOf(old.name);
    ctx.log(`  isolating ${old.name} (primary) from everything`);
    const faultAt = now();
    await ctx.cluster.partition(old.name);
    // A client stuck on the old primary's side: keeps writing to it directly (inside the pod, as kubectl exec would).
    const probeAcks: Ack[] = [];
    let probing = true;
    const probe = (async () => {
      let id = -now();
      while (probing) {
        const t0 = now();
        id -= 1;
        try {
          await ctx.cluster.sql({ member: old.name }, `INSERT INTO ${TABLE} (id, run, server) VALUES (${id}, '${w.run}-probe', host(inet_server_addr()))`, {
            timeoutMs: 2000,
          });
          probeAcks.push({ id, sentAt: t0, ackAt: now(), server: oldHost });
        } catch {
          /* refused or hung: not acknowledged */
        }
        await sleep(Math.max(0, 250 - (now() - t0)));
      }
    })();
    let next: Member;
    let firstNew: Ack;
    try {
      next = await newPrimary(ctx, old.name);
      firstNew = await ackedBy(ctx, w, await hostOf(next.name), faultAt);
      await sleep(2000);
    } finally {
      probing = false;
      await probe;
      await ctx.cluster.heal();
    }
    const rejoinAt = await rejoined(ctx, old.name);
    const split = [...w.acks.filter((a) => a.server === oldHost), ...probeAcks].filter((a) => a.ackAt > firstNew.ackAt).length;
    const notes = [`old primary acknowledged ${probeAcks.length} direct writes after isolation`];
    return { faultAt, oldPrimary: old.name, newPrimary: next.name, rejoinMs: rejoinAt - faultAt, splitBrainWrites: split, notes };
  });

const pooler: Scenario = async (ctx) => {
  const pods = await ctx.cluster.poolers(ctx.shard, 'rw');
  if (!pods.length) throw new Error(`shard ${ctx.shard} has no rw pooler pods (pooler.type must be pgbouncer)`);
  return withWriter(ctx, 'pooler', async (w) => {
    // Every rw PgBouncer in turn, so the one the client is connected to is certainly among them.
    const faultAt = now();
    let back = 0;
    for (const victim of pods) {
      ctx.log(`  SIGKILL ${victim} (rw pooler)`);
      const at = now();
      await ctx.cluster.kill(victim, 'SIGKILL');
      await waitFor('writes through the pooler Service again', ctx.timeoutMs, async () => w.acks.some((a) => a.sentAt > at + 100), 50);
      await ctx.cluster.start(victim);
      back = Math.max(back, now() - at);
      await sleep(1500);
    }
    return { faultAt, rejoinMs: back };
  });
};

const replicaRebuild: Scenario = (ctx) =>
  withWriter(ctx, 'replica-rebuild', async (w) => {
    const ms = await ctx.cluster.members(ctx.shard);
    const victim = ms.find((m) => m.role === 'replica' && !m.sync) ?? ms.find((m) => m.role === 'replica');
    if (!victim) throw new Error(`shard ${ctx.shard} has no replica to rebuild`);
    const fromRepo = await ctx.cluster.backupsEnabled();
    if (fromRepo) {
      // A backup in the repository, so the new replica is restored from it (create_replica_methods) and replays WAL.
      ctx.log(`  full backup first (replicas are rebuilt from the repository)`);
      await ctx.cluster.backup(ctx.shard, 'full');
    }
    ctx.log(`  wiping ${victim.name}'s data volume`);
    const faultAt = now();
    await ctx.cluster.wipe(victim.name);
    const rejoinAt = await rejoined(ctx, victim.name);
    // The rebuilt replica must hold everything acknowledged before it was wiped.
    const before = w.acks.filter((a) => a.ackAt < faultAt);
    const rows = await waitFor(
      `${victim.name} to replay the writer's rows`,
      ctx.timeoutMs,
      async () => {
        const r = await ctx.cluster.sql({ member: victim.name }, `SELECT count(*) FROM ${TABLE} WHERE run = '${w.run}' AND id <= ${before.at(-1)!.id}`);
        return Number(r[0]![0]) >= before.length ? r : undefined;
      },
      500,
    );
    return {
      faultAt,
      oldPrimary: undefined,
      rejoinMs: rejoinAt - faultAt,
      notes: [
        `rebuilt replica holds ${rows[0]![0]} of ${before.length} rows acknowledged before the wipe${fromRepo ? ' (backups on: a full backup was taken first, so the rebuild can come from the repository)' : ''}`,
      ],
    };
  });

const restore: Scenario = async (ctx) => {
  const { cluster, shard } = ctx;
  if (!(await cluster.backupsEnabled())) throw new Error('the restore drill needs backups.enabled=true');
  await healthy(ctx);
  const endpoint = await cluster.writeEndpoint(shard);
  await prepare(ctx, endpoint);
  const runId = `restore-${ctx.run}-${now()}`;
  ctx.log('  full backup');
  await cluster.backup(shard, 'full');
  const before = await newWriter(cluster, endpoint, runId, { firstId: 1_000_000 * (ctx.run + 1) });
  before.start();
  await sleep(3000);
  await before.stop();
  await sleep(1500);
  const target = new Date(Number((await cluster.sql({ service: 'primary', shard }, 'SELECT extract(epoch FROM clock_timestamp())'))[0]![0]) * 1000);
  await sleep(1500);
  const after = await newWriter(cluster, endpoint, runId, { firstId: 1_000_000 * (ctx.run + 1) + 500_000 });
  after.start();
  await sleep(3000);
  await after.stop();
  ctx.log(
    `  ${before.acks.length} rows acknowledged before the target, ${after.acks.length} after (${before.errors.length + after.errors.length} client errors${[
      ...before.errors,
      ...after.errors,
    ]
      .slice(0, 1)
      .map((e) => `: ${e.message}`)
      .join('')})`,
  );
  if (!before.acks.length || !after.acks.length)
    throw new Error('the restore drill needs rows acknowledged on both sides of the target: the writer wrote nothing there');
  // Archive the later writes too: the restore must stop at the target, not at the end of the archive.
  const primary = (await cluster.primary(shard))!;
  const segment = (await cluster.sql({ member: primary.name }, 'SELECT pg_walfile_name(pg_switch_wal())'))[0]![0]!;
  await waitFor(
    `WAL segment ${segment} to be archived`,
    ctx.timeoutMs,
    async () => {
      const last = (await cluster.sql({ member: primary.name }, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"))[0]![0]!;
      return last >= segment;
    },
    500,
  );
  ctx.log(`  restoring ${shard} to ${target.toISOString()}`);
  const faultAt = now();
  await cluster.restore(shard, target);
  await healthy(ctx);
  const rows = await cluster.sql({ service: 'primary', shard }, `SELECT id FROM ${TABLE} WHERE run = '${runId}' ORDER BY id`);
  const got = rows.map((r) => Number(r[0]));
  const want = before.acks.map((a) => a.id).sort((a, b) => a - b);
  const missing = want.filter((id) => !got.includes(id));
  const extra = got.filter((id) => !want.includes(id));
  const notes = [
    `restored ${got.length} rows; expected exactly the ${want.length} acknowledged before the target; missing ${missing.length}, extra ${extra.length}`,
  ];
  ctx.log(`  ${notes[0]}`);
  return {
    run: ctx.run,
    writeGapMs: now() - faultAt,
    acknowledgedWrites: before.acks.length + after.acks.length,
    acknowledgedWritesLost: missing.length,
    clientErrors: before.errors.length + after.errors.length,
    extraRows: extra.length,
    notes,
  };
};

/**
 * S3 unreachable for `durationS` (default 60) while the writer writes: the primary must keep acknowledging writes
 * (archiving fails and WAL waits in pg_wal, or in pgBackRest's queue), and once S3 is back every WAL segment
 * switched during the outage must reach the repository, with no gap. The rejoin time is the catch-up: S3 back to
 * the last of those segments archived.
 */
const s3Outage: Scenario = (ctx) =>
  withWriter(ctx, 's3-outage', async () => {
    const { cluster, shard } = ctx;
    if (!cluster.stopS3 || !cluster.startS3) throw new Error(`the ${cluster.backend} backend does not control an S3 endpoint`);
    if (!(await cluster.backupsEnabled())) throw new Error('the s3-outage drill needs backups.enabled=true');
    const primary = (await cluster.primary(shard))!;
    const on = { member: primary.name };
    const archiver = async () => {
      const [r] = await cluster.sql(on, "SELECT failed_count, coalesce(last_archived_wal, '') FROM pg_stat_archiver");
      return { failed: Number(r![0]), last: r![1]! };
    };
    const before = await archiver();
    const outageMs = (ctx.opts.durationS ?? 60) * 1000;
    ctx.log(`  S3 down for ${outageMs / 1000} s, a WAL switch every 10 s`);
    const faultAt = now();
    await cluster.stopS3();
    const segments: string[] = [];
    let during = before;
    try {
      while (now() - faultAt < outageMs) {
        await sleep(Math.min(10_000, Math.max(0, outageMs - (now() - faultAt))));
        segments.push((await cluster.sql(on, 'SELECT pg_walfile_name(pg_switch_wal())'))[0]![0]!);
      }
      during = await archiver();
    } finally {
      await cluster.startS3();
    }
    const backAt = now();
    // With S3 up, the first segment (switched 10 s in) is archived within seconds; still waiting proves the cut.
    if (during.last >= segments[0]!)
      throw new Error(
        `${segments[0]}, switched during the outage, was archived while S3 was down (last archived ${during.last}): the drill did not cut S3 off`,
      );
    const last = [...segments].sort().at(-1)!;
    await waitFor(`${last}, switched during the outage, to be archived`, ctx.timeoutMs, async () => (await archiver()).last >= last, 500);
    const catchUpMs = now() - backAt;
    const after = await archiver();
    // Each segment from the repository, fetched the way archive_command pushes it (same stanza and configuration).
    const [push] = await cluster.sql(on, 'SHOW archive_command');
    const missing: string[] = [];
    for (const seg of segments) {
      const get = push![0]!.replace(/archive-push\s+"?%p"?/, `archive-get ${seg} /tmp/pgfleet-drill-${seg}`);
      if (get === push![0]) throw new Error(`archive_command is not a pgBackRest archive-push: ${push![0]}`);
      const sql = `CREATE TEMP TABLE drill_out (line text); COPY drill_out FROM PROGRAM '${get} && rm -f /tmp/pgfleet-drill-${seg} && echo fetched'`;
      await cluster.sql(on, sql).catch(() => missing.push(seg));
    }
    if (missing.length) throw new Error(`WAL segments written during the S3 outage are missing from the repository: ${missing.join(', ')}`);
    return {
      faultAt,
      rejoinMs: catchUpMs,
      notes: [
        `archiving stalled at ${during.last || 'nothing'} while S3 was down (${after.failed - before.failed} failed archive_command runs in all); the ${segments.length} segments switched during the outage (${segments[0]}..${last}) were all archived ${(catchUpMs / 1000).toFixed(1)} s after S3 came back, each fetched back from the repository`,
      ],
    };
  });

const chaos: Scenario = (ctx) =>
  withWriter(ctx, 'chaos', async () => {
    let seed = ctx.opts.seed ?? 42;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const end = now() + (ctx.opts.durationS ?? 120) * 1000;
    const faultAt = now();
    let kills = 0;
    while (now() < end) {
      const ms = await ctx.cluster.members(ctx.shard);
      const victim = ms[Math.floor(rnd() * ms.length)]!;
      const signal = rnd() < 0.5 ? 'SIGKILL' : 'SIGTERM';
      ctx.log(`  chaos: ${signal} ${victim.name} (${victim.role})`);
      await ctx.cluster.kill(victim.name, signal);
      kills++;
      if (victim.role === 'primary') await primaryAgain(ctx, victim);
      await sleep(2000);
      await ctx.cluster.start(victim.name);
      await healthy(ctx);
      await sleep(Math.min(Math.max(0, end - now()), (15 + rnd() * 15) * 1000));
    }
    return { faultAt, notes: [`${kills} members killed`] };
  });

export const SCENARIOS: Record<string, { run: Scenario; describe: string }> = {
  failover: { run: killPrimary('SIGKILL'), describe: 'SIGKILL the primary pod (Patroni and PostgreSQL at once)' },
  graceful: { run: killPrimary('SIGTERM'), describe: 'delete the primary pod (preStop hooks, then SIGTERM)' },
  switchover: { run: switchover, describe: 'planned switchover through Patroni' },
  partition: { run: partition, describe: 'isolate the primary from every other pod, Service and the DCS' },
  'node-loss': { run: nodeLoss, describe: 'stop the node that holds the primary until it is NotReady, then start it' },
  freeze: { run: freeze, describe: 'SIGSTOP the primary longer than ttl, then SIGCONT: it must step down, not take the lock back' },
  'control-plane-loss': {
    run: controlPlaneLoss,
    describe: 'freeze the control plane (the DCS) longer than ttl while the pods run on: with failsafe mode the primary keeps serving',
  },
  pooler: { run: pooler, describe: 'SIGKILL one rw PgBouncer; clients must recover' },
  'replica-rebuild': { run: replicaRebuild, describe: "wipe a replica's data; it must rejoin" },
  restore: { run: restore, describe: 'backup, more writes, point-in-time restore between them, compare rows' },
  's3-outage': {
    run: s3Outage,
    describe: 'stop the S3 endpoint for a minute while writing: writes go on, and every WAL segment reaches the repository once S3 is back',
  },
  chaos: { run: chaos, describe: 'kill a random member every 15-30 s for a bounded time' },
};

/** The result of a drill that could not run to the end (it threw): no runs, the error as its failure. */
export function failedDrill(scenario: string, err: unknown): DrillResult {
  return {
    scenario,
    runs: 0,
    shard: '',
    synchronousMode: false,
    writeGapMs: { p50: NaN, p95: NaN, max: NaN },
    acknowledgedWrites: 0,
    acknowledgedWritesLost: 0,
    clientErrors: 0,
    perRun: [],
    failures: [(err as Error).message ?? String(err)],
  };
}

export async function runDrill(cluster: Cluster, scenario: string, opts: DrillOptions = {}): Promise<DrillResult> {
  const s = SCENARIOS[scenario];
  if (!s) throw new Error(`unknown drill ${scenario}; drills: ${Object.keys(SCENARIOS).join(', ')}`);
  const log = opts.log ?? (() => {});
  const shard = opts.shard ?? (await cluster.shards())[0]!;
  const config = await cluster.dynamicConfig(shard);
  const runs = scenario === 'chaos' ? 1 : (opts.runs ?? 1);
  const perRun: RunResult[] = [];
  log(`${scenario}: ${s.describe} (${runs} run${runs > 1 ? 's' : ''}, shard ${shard})`);
  for (let i = 0; i < runs; i++) {
    perRun.push(await s.run({ cluster, shard, log, timeoutMs: (opts.timeoutS ?? 120) * 1000, run: i + 1, opts }));
  }
  const sync = Boolean(config.synchronous_mode);
  const sum = (k: keyof RunResult) => perRun.reduce((a, r) => a + Number(r[k] ?? 0), 0);
  const stat = (k: 'rejoinMs' | 'nodeNotReadyMs' | 'multiplePrimaryEndpointsMs' | 'newPrimaryAckMs' | 'controlPlaneBackMs') => {
    const xs = perRun.map((r) => r[k]).filter((x): x is number => x !== undefined);
    return xs.length ? { [k]: summary(xs) } : {};
  };
  const result: DrillResult = {
    scenario,
    runs,
    shard,
    synchronousMode: sync,
    ttl: config.ttl,
    writeGapMs: summary(perRun.map((r) => r.writeGapMs)),
    acknowledgedWrites: sum('acknowledgedWrites'),
    acknowledgedWritesLost: sum('acknowledgedWritesLost'),
    clientErrors: sum('clientErrors'),
    ...stat('rejoinMs'),
    ...stat('nodeNotReadyMs'),
    ...stat('multiplePrimaryEndpointsMs'),
    ...stat('newPrimaryAckMs'),
    ...stat('controlPlaneBackMs'),
    ...(perRun.some((r) => r.primaryEndpointsMax !== undefined) ? { primaryEndpointsMax: Math.max(...perRun.map((r) => r.primaryEndpointsMax ?? 0)) } : {}),
    ...(perRun.some((r) => r.splitBrainWrites !== undefined) ? { splitBrainWrites: sum('splitBrainWrites') } : {}),
    ...(perRun.some((r) => r.extraRows !== undefined) ? { extraRows: sum('extraRows') } : {}),
    perRun,
    failures: [],
  };
  if (result.acknowledgedWritesLost && (sync || ['restore', 'switchover', 'pooler'].includes(scenario)))
    result.failures.push(`${result.acknowledgedWritesLost} acknowledged writes lost`);
  const takenBack = perRun.filter((r) => r.lockTakenBack).length;
  if (takenBack) result.failures.push(`the resumed old primary took the leader lock back in ${takenBack} of ${runs} runs`);
  if (result.splitBrainWrites) result.failures.push(`${result.splitBrainWrites} writes acknowledged by the isolated old primary after the new primary's first`);
  const stopped = perRun.filter((r) => r.failsafeMode && r.writesAfterLockExpiry === 0).length;
  if (stopped) result.failures.push(`failsafe mode on, yet no write was acknowledged after the leader lock expired, in ${stopped} of ${runs} runs`);
  if (result.extraRows) result.failures.push(`${result.extraRows} rows written after the target time came back with the restore`);
  return result;
}

const fmt = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? '-' : `${(ms / 1000).toFixed(2)} s`);

/** A human-readable table of drill results. */
export function table(results: DrillResult[]): string {
  const head = ['scenario', 'runs', 'gap p50', 'gap p95', 'gap max', 'acked', 'lost', 'errors', 'rejoin p50', 'split brain', 'result'];
  const rows = results.map((r) => [
    r.scenario,
    String(r.runs),
    fmt(r.writeGapMs.p50),
    fmt(r.writeGapMs.p95),
    fmt(r.writeGapMs.max),
    String(r.acknowledgedWrites),
    String(r.acknowledgedWritesLost),
    String(r.clientErrors),
    fmt(r.rejoinMs?.p50),
    r.splitBrainWrites === undefined ? '-' : String(r.splitBrainWrites),
    r.failures.length ? `FAIL: ${r.failures.join('; ')}` : 'ok',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
