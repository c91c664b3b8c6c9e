// `npm run e2e:kind`: tier 3. Installs the chart on a throw-away kind cluster and runs the same drills through the
// kube backend. Needs a Docker engine and kind; where either is missing it says so and exits 0 (tiers 0-2 still ran).
// Usage: npm run e2e:kind [-- --keep] [-- -f values.yaml]
import { spawnSync } from 'node:child_process';
import { parseArgs } from './lib/args.ts';
import { chartDir, toolPath } from './lib/tools.ts';

const args = parseArgs(process.argv.slice(2), ['keep']);
const has = (cmd: string, probe: string[]) => spawnSync(cmd, probe, { stdio: 'ignore' }).status === 0;
const missing = [!has('docker', ['info']) && 'a running Docker engine (docker info)', !has('kind', ['version']) && 'kind'].filter(Boolean);
if (missing.length) {
  console.log(`e2e:kind skipped: needs ${missing.join(' and ')}; tiers 0-2 (npm test, npm run test:drills) run without them`);
  process.exit(0);
}

const cluster = 'pgfleet-e2e';
const context = `kind-${cluster}`;
const namespace = 'pgfleet-e2e';
const run = (cmd: string, argv: string[]) => {
  console.log(`$ ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${argv[0]} failed (exit ${r.status})`);
};
const helm = (argv: string[]) => run(toolPath('helm'), [...argv, '--kube-context', context]);

let failed = false;
try {
  run('kind', ['create', 'cluster', '--name', cluster, '--wait', '120s']);
  const values = (args.values.length ? args.values : [`${chartDir}/ci/01-sharded-sync-values.yaml`]).flatMap((f) => ['-f', f]);
  helm(['install', 'db', chartDir, '--namespace', namespace, '--create-namespace', ...values, '--set', 'networkPolicy.kubeAPIServerCIDRs={0.0.0.0/0}', '--wait', '--timeout', '15m']);
  helm(['test', 'db', '--namespace', namespace, '--logs', '--timeout', '5m']);
  run('npx', ['tsx', 'scripts/drill.ts', 'failover', 'graceful', 'switchover', 'pooler', '--context', context, '--namespace', namespace, '--release', 'db']);
  helm(['upgrade', 'db', chartDir, '--namespace', namespace, ...values, '--wait', '--timeout', '15m']);
} catch (err) {
  failed = true;
  console.error(`e2e:kind failed: ${(err as Error).message}`);
  spawnSync(toolPath('kubectl'), ['--context', context, '-n', namespace, 'get', 'pods,svc,pvc,events', '-o', 'wide'], { stdio: 'inherit' });
} finally {
  if (!args.flags.keep) spawnSync('kind', ['delete', 'cluster', '--name', cluster], { stdio: 'inherit' });
}
process.exit(failed ? 1 : 0);
