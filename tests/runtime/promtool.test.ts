// The alert rules as the chart renders them pass `promtool check rules` and the promtool unit tests in
// tests/fixtures/promtool/ (input series -> alerts firing or not). promtool comes from the Debian package
// `prometheus` (npm run setup:local installs it): a runtime-tier prerequisite (tests/lib/prereq.ts).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { one, render } from '../../scripts/lib/helm.ts';
import { chartDir, root } from '../../scripts/lib/tools.ts';

const FIXTURES = join(root, 'tests', 'fixtures', 'promtool');

const run = (args: string[]) => spawnSync('promtool', args, { encoding: 'utf8' });

const p = suite('promtool');
let dir = '';
p.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgfleet-promtool-'));
  // The fixtures are written for release "db" in namespace "default".
  const rule = one(
    render({ release: 'db', namespace: 'default', set: { 'monitoring.prometheusRule.enabled': true } }).objects,
    'PrometheusRule',
    'db-pgfleet-alerts',
  );
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: rule.spec.groups }));
  for (const f of readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml'))) copyFileSync(join(FIXTURES, f), join(dir, f));
});
p.after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

p('promtool check rules: the generated file and the rules the chart renders', () => {
  for (const file of [join(chartDir, 'files', 'prometheus-rules.yaml'), join(dir, 'rules.yaml')]) {
    const r = run(['check', 'rules', file]);
    assert.is(r.status, 0, `${file}:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /SUCCESS: \d+ rules found/);
  }
});
p('promtool test rules: every fixture passes', () => {
  const fixtures = readdirSync(dir)
    .filter((f) => f !== 'rules.yaml' && f.endsWith('.yaml'))
    .map((f) => join(dir, f));
  assert.ok(fixtures.length >= 4, `only ${fixtures.length} promtool fixtures`);
  const r = run(['test', 'rules', ...fixtures]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.not.match(r.stdout + r.stderr, /FAILED/);
});
p('promtool test rules fails when a fixture expects the wrong thing (the check can fail)', () => {
  const broken = join(dir, 'broken.yaml.test');
  writeFileSync(
    broken,
    stringify({
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            {
              series: 'patroni_primary{namespace="default", cluster_name="db-pgfleet-shard-0", pod="db-pgfleet-shard-0-0", container="postgres"}',
              values: '1x10',
            },
          ],
          alert_rule_test: [
            {
              eval_time: '5m',
              alertname: 'PgfleetNoPrimary',
              exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'default', cluster_name: 'db-pgfleet-shard-0' } }],
            },
          ],
        },
      ],
    }),
  );
  const r = run(['test', 'rules', broken]);
  assert.is.not(r.status, 0, 'a healthy shard must not raise PgfleetNoPrimary');
});
p.run();
