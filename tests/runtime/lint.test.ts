// yamllint (Debian package) with the project's lintconf.yaml over the chart's YAML, the install scenarios, the
// examples and the good-values corpus.
import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { root } from '../../scripts/lib/tools.ts';

const lint = suite('yamllint');
lint('yamllint (lintconf.yaml) passes on the chart\'s YAML, scenarios, examples and good values', () => {
  const r = spawnSync('yamllint', ['-c', 'lintconf.yaml', '-f', 'parsable', 'charts/pgfleet/Chart.yaml', 'charts/pgfleet/values.yaml', 'charts/pgfleet/ci', 'examples', 'tests/fixtures/good-values', 'ct.yaml', 'lintconf.yaml'], { cwd: root, encoding: 'utf8' });
  assert.is(r.error, undefined, `yamllint: ${r.error?.message}`);
  assert.is(r.status, 0, r.stdout + r.stderr);
});
lint.run();
