// yamllint (Debian package) with the project's lintconf.yaml over the chart's YAML, the install scenarios, the
// examples and the good-values corpus; shellcheck and Python's parser over the chart's scripts (files/scripts).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { root } from '../../scripts/lib/tools.ts';

const lint = suite('yamllint');
lint("yamllint (lintconf.yaml) passes on the chart's YAML, scenarios, examples and good values", () => {
  const r = spawnSync(
    'yamllint',
    [
      '-c',
      'lintconf.yaml',
      '-f',
      'parsable',
      'charts/pgfleet/Chart.yaml',
      'charts/pgfleet/values.yaml',
      'charts/pgfleet/ci',
      'examples',
      'tests/fixtures/good-values',
      'ct.yaml',
      'lintconf.yaml',
    ],
    { cwd: root, encoding: 'utf8' },
  );
  assert.is(r.error, undefined, `yamllint: ${r.error?.message}`);
  assert.is(r.status, 0, r.stdout + r.stderr);
});
const scripts = (ext: string) =>
  readdirSync(`${root}/charts/pgfleet/files/scripts`)
    .filter((f) => f.endsWith(ext))
    .map((f) => `charts/pgfleet/files/scripts/${f}`);
lint('shellcheck passes on every shell script in files/scripts', () => {
  assert.ok(scripts('.sh').length >= 2);
  const r = spawnSync('shellcheck', ['--format', 'gcc', ...scripts('.sh')], { cwd: root, encoding: 'utf8' });
  assert.is(r.error, undefined, `shellcheck: ${r.error?.message}`);
  assert.is(r.status, 0, r.stdout + r.stderr);
});
lint('every Python script in files/scripts parses (python3, as the image runs it)', () => {
  assert.ok(scripts('.py').length >= 2);
  const r = spawnSync('python3', ['-c', 'import ast, sys\nfor f in sys.argv[1:]: ast.parse(open(f).read(), f)', ...scripts('.py')], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stdout + r.stderr);
});
lint.run();
