// `npm test`: runs every uvu suite under tests/ (except drills), then prints the plain summary line
// `N passed, N failed` that CI reads. Usage: npm test [-- <dir-or-pattern>]
import { spawnSync } from 'node:child_process';
import { root } from '../scripts/lib/tools.ts';

// Default: every *.test.ts under tests/ except the drills (npm run test:drills runs those).
const dirs = process.argv.slice(2).length ? process.argv.slice(2) : ['tests'];
let passed = 0;
let failed = 0;
for (const dir of dirs) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'node_modules/uvu/bin.js', dir, '\\.test\\.ts$', ...(dir === 'tests' ? ['-i', 'drills'] : [])], {
    cwd: root, encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, NO_COLOR: '1' },
  });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  const total = Number(/Total:\s+(\d+)/.exec(r.stdout)?.[1] ?? NaN);
  const ok = Number(/Passed:\s+(\d+)/.exec(r.stdout)?.[1] ?? NaN);
  if (Number.isNaN(total) || Number.isNaN(ok)) {
    // A suite that crashed before uvu's summary counts as one failure, never as silence.
    if (!/No test files|no files/i.test(r.stdout + r.stderr) || r.status !== 0) failed += 1;
    continue;
  }
  passed += ok;
  failed += total - ok;
  if (r.status !== 0 && total === ok) failed += 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
