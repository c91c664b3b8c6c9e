// The lifecycle of a release on kind (issue 11, part 3), as a platform team lives it: install the previous chart
// release and write rows; upgrade to this one, then fail over and switch over; scale replicas 1 -> 2 -> 1 and
// shards 2 -> 3 under a writer (the new shard written through its rw pooler, verified in full by `helm test`);
// change bootstrap-only settings (applied by the dcs-sync hook, no pod restarted); uninstall, then reinstall under
// the same name onto the kept volumes. Every row written must still be there.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runDrill } from '../drills/index.ts';
import { TABLE as DRILL_TABLE, Writer, writeGap } from '../drills/writer.ts';
import { KubeCluster, type NodeAccess } from '../kube/backend.ts';
import { root, toolPath } from '../tools.ts';
import { exec, waitFor } from '../proc.ts';

/** What the lifecycle needs from the e2e run: its checks, tools, cluster and registry. */
export type E2E = {
  check(name: string, fn: () => Promise<void> | void): Promise<boolean>;
  helm(argv: string[], o?: { quiet?: boolean }): string;
  kubectl(argv: string[], o?: { quiet?: boolean }): string;
  helmTest(ns: string): void;
  /** `helm install --wait` from the registry, every pod Ready, `helm test`; the namespace, or undefined on failure */
  install(label: string, version: string, set: string[]): Promise<string | undefined>;
  /** the `--set` pairs that point the chart's images at the ones built here */
  images: string[];
  registry: string;
  context: string;
  kubeconfig: string;
  nodes: NodeAccess;
  /** where the writers run (KubeOptions.client) */
  client?: { node?: string };
  work: string;
  log(line: string): void;
};

const CHART_YAML = 'charts/pgfleet/Chart.yaml';
const TABLE = 'pgfleet_lifecycle';
/**
 * The release's values throughout: 2 shards of 2 pods (the 3 nodes share 2 cores: 100m per database pod), and the
 * API server admitted by its endpoint addresses, read as the chart README tells users to (a policy on the Service's
 * ClusterIP matches nothing here: pgfleet-net filters after kube-proxy's rewrite).
 */
function baseValues(e: E2E): string[] {
  const addresses = e
    .kubectl(
      ['get', 'endpointslices', '-n', 'default', '-l', 'kubernetes.io/service-name=kubernetes', '-o', 'jsonpath={.items[*].endpoints[*].addresses[*]}'],
      { quiet: true },
    )
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  if (!addresses.length) throw new Error('no endpoint address behind the kubernetes Service');
  const cidrs = addresses.map((a) => `${a}/${a.includes(':') ? 128 : 32}`);
  return ['shards=2', 'replicas=1', 'resources.requests.cpu=100m', `networkPolicy.kubeAPIServerCIDRs={${cidrs.join(',')}}`];
}

/**
 * The newest chart release of the previous minor version (0.8.x -> the last 0.7.x), from the git history of
 * Chart.yaml: what a user upgrading across one minor version runs today.
 */
export function previousRelease(current: string): { version: string; commit: string } {
  const git = (...a: string[]) => execFileSync('git', ['-C', root, ...a], { encoding: 'utf8' });
  const minor = (v: string) => v.split('.').slice(0, 2).join('.');
  for (const commit of git('log', '--format=%H', '--', CHART_YAML).split('\n').filter(Boolean)) {
    const { version } = parse(git('show', `${commit}:${CHART_YAML}`));
    if (minor(version) !== minor(current)) return { version, commit };
  }
  throw new Error(`no chart release before ${minor(current)}.x in the git history of ${CHART_YAML} (a shallow clone? fetch the history)`);
}

/** Packages the chart as it was at `commit` and pushes it to the run's registry. */
function publishPrevious(e: E2E, commit: string, version: string): void {
  const dir = join(e.work, `chart-${version}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync('sh', ['-c', 'git -C "$1" archive "$2" charts/pgfleet | tar -x -C "$3"', 'sh', root, commit, dir]);
  e.helm(['package', join(dir, 'charts/pgfleet'), '--destination', dir]);
  e.helm(['push', join(dir, `pgfleet-${version}.tgz`), `oci://${e.registry}/charts`, '--plain-http']);
}

/** `helm upgrade` without blocking the event loop (a writer may be running), then every workload rolled out. */
async function upgrade(e: E2E, ns: string, version: string, values: string[]): Promise<void> {
  const argv = [
    'upgrade',
    'db',
    `oci://${e.registry}/charts/pgfleet`,
    '--version',
    version,
    '--plain-http',
    '--namespace',
    ns,
    ...e.images,
    ...values.flatMap((kv) => ['--set', kv]),
    '--wait',
    '--timeout',
    '10m',
    '--kubeconfig',
    e.kubeconfig,
  ];
  e.log(`$ helm ${argv.slice(0, 5).join(' ')} ${values.filter((v) => !v.startsWith('networkPolicy.')).join(' ')}`);
  const r = await exec([toolPath('helm'), ...argv], { timeoutMs: 12 * 60_000 });
  if (r.status !== 0) throw new Error(`helm upgrade failed: ${r.stderr.trim().split('\n').slice(-6).join('\n')}`);
  for (const w of e.kubectl(['-n', ns, 'get', 'statefulsets,deployments', '-o', 'name'], { quiet: true }).split('\n').filter(Boolean)) {
    const s = await exec([toolPath('kubectl'), '--kubeconfig', e.kubeconfig, '-n', ns, 'rollout', 'status', w, '--timeout=600s'], { timeoutMs: 11 * 60_000 });
    if (s.status !== 0) throw new Error(`${w} did not roll out: ${s.stderr.trim()}`);
  }
}

/** Runs fn with the kube backend on release `db` in `ns`, closed afterwards (port-forwards, clients) whatever happens. */
async function withCluster(e: E2E, ns: string, fn: (c: KubeCluster) => Promise<void>): Promise<void> {
  const c = new KubeCluster({ context: e.context, namespace: ns, release: 'db', kubeconfig: e.kubeconfig, nodes: e.nodes, client: e.client });
  try {
    await fn(c);
  } finally {
    await c.close();
  }
}

/** Every shard's member count and Patroni state, once each member runs or streams. */
async function settled(c: KubeCluster, members: number): Promise<void> {
  for (const shard of await c.shards()) {
    await waitFor(
      `${shard}: ${members} members, one primary, the rest streaming`,
      300_000,
      async () => {
        const m = await c.members(shard).catch(() => []);
        return (
          m.length === members &&
          m.filter((x) => x.role === 'primary').length === 1 &&
          m.every((x) => (x.role === 'primary' ? x.state === 'running' : ['streaming', 'running'].includes(x.state)))
        );
      },
      1000,
    );
  }
}

/** The rows written so far, per shard: count and sum of ids, read on each shard's primary. */
async function rows(c: KubeCluster): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const shard of await c.shards()) {
    const r = await c.sql({ service: 'primary', shard }, `SELECT count(*) || '/' || coalesce(sum(id), 0) FROM ${TABLE}`).catch(() => [['none']]);
    out[shard] = r[0]?.[0] ?? 'none';
  }
  return out;
}

async function seed(c: KubeCluster): Promise<void> {
  for (const shard of await c.shards()) {
    await c.sql({ service: 'primary', shard }, `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY); INSERT INTO ${TABLE} SELECT generate_series(1, 1000)`);
  }
}

/** Runs `body` under a writer through shard 0's rw pooler; fails if an acknowledged write is missing afterwards. */
async function underWriter(e: E2E, c: KubeCluster, what: string, body: () => Promise<void>): Promise<void> {
  const shard = (await c.shards())[0]!;
  const endpoint = await c.writeEndpoint(shard);
  await waitFor(
    'the rw pooler to take the writer table',
    120_000,
    async () => {
      await Writer.prepare(await c.connection(endpoint));
      return true;
    },
    1000,
  );
  const w = await c.writer(endpoint, `lifecycle-${what}-${Date.now()}`, { intervalMs: 50 });
  w.start();
  try {
    await waitFor('the writer to get acknowledgements', 60_000, async () => w.acks.length >= 10, 100);
    await body();
    await waitFor('the writer to write again after the change', 120_000, async () => w.acks.at(-1)!.ackAt > Date.now() - 2000, 250);
  } finally {
    await w.stop();
  }
  const present = new Set((await c.sql({ service: 'primary', shard }, `SELECT id FROM ${DRILL_TABLE} WHERE run = '${w.run}'`)).map((r) => Number(r[0])));
  const lost = w.acks.filter((a) => !present.has(a.id)).length;
  const gap = writeGap(w.acks, 0).gapMs;
  e.log(`  ${what}: ${w.acks.length} writes acknowledged, ${lost} lost, ${w.errors.length} client errors, longest gap ${(gap / 1000).toFixed(1)} s`);
  if (lost) throw new Error(`${lost} of ${w.acks.length} acknowledged writes lost during ${what}`);
}

export async function lifecycle(e: E2E, current: string): Promise<void> {
  const prev = previousRelease(current);
  const values = baseValues(e);
  const ok = await e.check(`lifecycle: chart ${prev.version} (git ${prev.commit.slice(0, 12)}) packaged from git and pushed`, () =>
    publishPrevious(e, prev.commit, prev.version),
  );
  const ns = ok ? await e.install('life', prev.version, values) : undefined;
  if (!ns) return;
  let expected: Record<string, string> = {};
  const same = async (c: KubeCluster) => {
    const now = await rows(c);
    for (const [shard, v] of Object.entries(expected)) if (now[shard] !== v) throw new Error(`${shard}: rows ${now[shard]} (count/sum), expected ${v}`);
  };
  await e.check(`lifecycle: 1000 rows written to each shard on chart ${prev.version}`, async () => {
    await withCluster(e, ns, async (c) => {
      await seed(c);
      expected = await rows(c);
    });
    if (Object.values(expected).some((v) => !v.startsWith('1000/'))) throw new Error(`rows: ${JSON.stringify(expected)}`);
  });
  const upgraded = await e.check(
    `lifecycle: helm upgrade ${prev.version} -> ${current}: every pod rolled out and Ready, helm test passes, every row there`,
    async () => {
      await upgrade(e, ns, current, values);
      await withCluster(e, ns, async (c) => {
        await settled(c, 2);
        await same(c);
      });
      e.helmTest(ns);
    },
  );
  if (!upgraded) return;
  for (const drill of ['failover', 'switchover']) {
    await e.check(`lifecycle: drill ${drill} after the upgrade: nothing acknowledged lost, every earlier row there`, async () => {
      await withCluster(e, ns, async (c) => {
        const r = await runDrill(c, drill, { runs: 1, log: e.log, timeoutS: 240 });
        const problems = [...r.failures, ...(r.acknowledgedWritesLost ? [`${r.acknowledgedWritesLost} acknowledged writes lost`] : [])];
        if (problems.length) throw new Error(problems.join('; '));
        await settled(c, 2);
        await same(c);
      });
    });
  }
  await e.check('lifecycle: replicas 1 -> 2 -> 1 under a writer through the rw pooler: nothing lost, nothing stuck', async () => {
    await withCluster(e, ns, async (c) => {
      await underWriter(e, c, 'replicas 1 -> 2', async () => {
        await upgrade(e, ns, current, [...values, 'replicas=2']);
        await settled(c, 3);
      });
      await underWriter(e, c, 'replicas 2 -> 1', async () => {
        await upgrade(e, ns, current, [...values, 'replicas=1']);
        await settled(c, 2);
      });
      await same(c);
    });
  });
  await e.check(
    "lifecycle: shards 2 -> 3 under a writer; helm test writes through the new shard's rw pooler and reads through its ro pooler, verify-full",
    async () => {
      await withCluster(e, ns, async (c) => {
        await underWriter(e, c, 'shards 2 -> 3', async () => {
          await upgrade(e, ns, current, [...values, 'shards=3']);
        });
      });
      // A new client: the shards it knows are read afresh.
      await withCluster(e, ns, async (grown) => {
        await settled(grown, 2);
        if ((await grown.shards()).length !== 3) throw new Error(`shards: ${(await grown.shards()).join(', ')}`);
        await same(grown);
      });
      e.helmTest(ns);
    },
  );
  await e.check(
    'lifecycle: helm upgrade changing bootstrap-only settings (work_mem, ttl) restarts no pod; the dcs-sync hook applies them to every member, and dropping work_mem again resets it',
    async () =>
      withCluster(e, ns, async (c) => {
        const pods = () =>
          e
            .kubectl(
              [
                '-n',
                ns,
                'get',
                'pods',
                '-l',
                'app.kubernetes.io/component=database',
                '-o',
                'jsonpath={range .items[*]}{.metadata.name}={.metadata.uid}/{.status.containerStatuses[*].restartCount} {end}',
              ],
              { quiet: true },
            )
            .trim();
        const applied = async (workMem: string, ttl: number) => {
          for (const shard of await c.shards()) {
            await waitFor(
              `${shard}: ttl ${ttl} in the DCS and work_mem ${workMem} on every member`,
              120_000,
              async () => {
                if ((await c.dynamicConfig(shard)).ttl !== ttl) return false;
                for (const m of await c.members(shard)) if ((await c.sql({ member: m.name }, 'SHOW work_mem'))[0]?.[0] !== workMem) return false;
                return true;
              },
              2000,
            );
          }
        };
        const before = pods();
        await upgrade(e, ns, current, [...values, 'shards=3', 'postgresql.parameters.work_mem=8MB', 'patroni.ttl=25']);
        await applied('8MB', 25);
        await upgrade(e, ns, current, [...values, 'shards=3']);
        await applied('4MB', 20);
        if (pods() !== before) throw new Error(`database pods restarted or replaced: before ${before}; after ${pods()}`);
        await same(c);
      }),
  );
  await e.check(
    'lifecycle: helm uninstall, then install under the same name: no stale DCS object in the way, the kept volumes and credentials serve every row',
    async () => {
      const volumes = () => e.kubectl(['-n', ns, 'get', 'pvc', '-o', 'name'], { quiet: true }).split('\n').filter(Boolean).sort();
      const before = volumes();
      e.helm(['uninstall', 'db', '--namespace', ns, '--wait', '--timeout', '5m'], { quiet: true });
      const left = e.kubectl(['-n', ns, 'get', 'configmaps', '-l', 'cluster-name', '-o', 'name'], { quiet: true }).trim();
      if (left) throw new Error(`DCS ConfigMaps left behind: ${left.replace(/\n/g, ', ')}`);
      if (volumes().join() !== before.join()) throw new Error(`data volumes before uninstall: ${before.join(', ')}; after: ${volumes().join(', ')}`);
      for (const kept of ['db-pgfleet-auth', 'db-pgfleet-tls-ca']) e.kubectl(['-n', ns, 'get', 'secret', kept], { quiet: true });
      const again = await e.install('life', current, [...values, 'shards=3']);
      if (again !== ns) throw new Error('the reinstall failed (see above)');
      await withCluster(e, ns, async (c) => {
        await settled(c, 2);
        await same(c);
      });
    },
  );
  e.helm(['uninstall', 'db', '--namespace', ns, '--wait', '--timeout', '5m'], { quiet: true });
  e.kubectl(['delete', 'namespace', ns, '--wait=true', '--timeout=300s'], { quiet: true });
}
