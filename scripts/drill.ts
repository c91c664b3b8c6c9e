// `npm run drill -- <name...> [--runs N] [--json] [-f values.yaml] [--set k=v]`: runs failover drills against a
// local cluster (started for the drill, torn down after, also on failure), or with `--context C [--namespace N]
// [--release R] [--kind-nodes]` against a real cluster through kubectl (--kind-nodes: the nodes are kind's
// containers on $DOCKER_HOST's engine, so SIGKILL, freeze, node and control-plane loss happen on the nodes
// themselves, and the writer's reports come back through its node's container runtime, not the API server;
// --in-cluster-client [--client-node NODE]: the writer runs in a pod of the cluster, on NODE when given, and reaches
// the poolers through Services as applications do, instead of through kubectl port-forward from here).
import type { Cluster } from './lib/cluster.ts';
import { SCENARIOS, failedDrill, runDrill, table, type DrillResult } from './lib/drills/index.ts';
import { LocalCluster } from './lib/local/backend.ts';
import { KubeCluster } from './lib/kube/backend.ts';
import { parseArgs } from './lib/args.ts';
import { kindNodes } from './lib/kind/docker.ts';
import type { SetValues } from '../schema/values-paths.ts';

const args = parseArgs(process.argv.slice(2), ['json', 'help', 'kind-nodes', 'in-cluster-client']);
const names = args.positionals;
if (args.flags.help || !names.length || names.some((n) => n !== 'all' && !SCENARIOS[n])) {
  console.error(
    `usage: npm run drill -- <${Object.keys(SCENARIOS).join('|')}|all>... [--runs N] [--json] [--timeout S] [--duration S]\n` +
      '         local (default): [-f values.yaml] [--set key=value] (defaults: replicas=2, patroni.synchronousMode=on)\n' +
      '         kube: --context CONTEXT [--namespace NS] [--release NAME] [--kind-nodes] [--in-cluster-client [--client-node NODE]]',
  );
  for (const [n, s] of Object.entries(SCENARIOS)) console.error(`  ${n.padEnd(16)} ${s.describe}`);
  process.exit(2);
}
const drills = names.includes('all') ? Object.keys(SCENARIOS).filter((n) => n !== 'chaos') : names;
const json = Boolean(args.flags.json);
const log = (l: string) => {
  if (!json) console.log(`[${new Date().toISOString().slice(11, 19)}] ${l}`);
  else console.error(l);
};
const runs = Number(args.flags.runs ?? 1);
if (!Number.isInteger(runs) || runs < 1) {
  console.error('--runs: a positive integer');
  process.exit(2);
}

let cluster: Cluster & { down?: () => Promise<void> };
let local: LocalCluster | undefined;
const cleanup = async () => {
  await cluster?.close().catch(() => {});
  await local?.down();
};
process.on('SIGINT', () => {
  void cleanup().finally(() => process.exit(130));
});
process.on('SIGTERM', () => {
  void cleanup().finally(() => process.exit(143));
});

const results: DrillResult[] = [];
let failed = false;
try {
  if (args.flags.context) {
    cluster = new KubeCluster({
      context: String(args.flags.context),
      namespace: String(args.flags.namespace ?? 'default'),
      release: args.flags.release ? String(args.flags.release) : undefined,
      nodes: args.flags['kind-nodes'] ? kindNodes(process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock') : undefined,
      client:
        args.flags['in-cluster-client'] || args.flags['client-node']
          ? { node: args.flags['client-node'] ? String(args.flags['client-node']) : undefined }
          : undefined,
    });
  } else {
    const set: SetValues = { replicas: 2, 'patroni.synchronousMode': 'on', ...args.set };
    if (drills.includes('restore') && set['backups.enabled'] === undefined) set['backups.enabled'] = true;
    local = await LocalCluster.up({ name: String(args.flags.name ?? 'drill'), values: args.values, set, log });
    cluster = local;
  }
  for (const d of drills) {
    try {
      results.push(
        await runDrill(cluster, d, {
          runs,
          log,
          timeoutS: args.flags.timeout ? Number(args.flags.timeout) : undefined,
          durationS: args.flags.duration ? Number(args.flags.duration) : undefined,
        }),
      );
    } catch (err) {
      failed = true;
      log(`${d}: ${(err as Error).message}`);
      results.push(failedDrill(d, err));
    }
  }
} catch (err) {
  failed = true;
  console.error(`drill failed: ${(err as Error).message}`);
} finally {
  await cleanup();
}
if (json) console.log(JSON.stringify(results, null, 2));
else if (results.length) console.log(`\n${table(results)}`);
process.exit(failed || results.some((r) => r.failures.length) ? 1 : 0);
