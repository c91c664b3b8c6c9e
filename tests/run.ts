// `npm test`: the node-only tiers (tests/schema, tests/render, tests/harness), then the runtime tier
// (tests/runtime: rendered scripts and configs run for real, root and Debian packages) when its prerequisites are
// here, else one line saying it was skipped (a failure with PGFLEET_REQUIRE_RUNTIME=1, as in .ci/run). Ends with
// the plain summary line `N passed, N failed` that CI reads. Usage: npm test [-- <dir>...] (npm run test:runtime and
// npm run test:drills name theirs).
import { spawnSync } from 'node:child_process';
import { root } from '../scripts/lib/tools.ts';
import { RUNTIME_REQUIRED, runtimeMissing } from './lib/prereq.ts';

const RUNTIME = 'tests/runtime';
const dirs = process.argv.slice(2).length ? process.argv.slice(2) : ['tests/schema', 'tests/render', 'tests/harness', RUNTIME];
let passed = 0;
let failed = 0;
for (const dir of dirs) {
  if (dir === RUNTIME) {
    const missing = runtimeMissing();
    if (missing.length) {
      const named = process.argv.slice(2).includes(RUNTIME);
      console.log(
        `runtime tier ${named || RUNTIME_REQUIRED ? 'cannot run' : 'skipped'}: missing ${missing.join(', ')} (\`npm run setup:local\` installs them; \`npm run test:runtime\` runs the tier)`,
      );
      if (named || RUNTIME_REQUIRED) failed += 1;
      continue;
    }
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'node_modules/uvu/bin.js', dir, '\\.test\\.ts$'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    env: { ...process.env, NO_COLOR: '1' },
  });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  const total = Number(/Total:\s+(\d+)/.exec(r.stdout)?.[1] ?? NaN);
  const ok = Number(/Passed:\s+(\d+)/.exec(r.stdout)?.[1] ?? NaN);
  if (Number.isNaN(total) || Number.isNaN(ok)) {
    // A suite that crashed before uvu's summary counts as one failure, never as silence.
    failed += 1;
    continue;
  }
  passed += ok;
  failed += total - ok;
  if (r.status !== 0 && total === ok) failed += 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
