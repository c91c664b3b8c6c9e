// The chart's helpers that take a dict refuse one with a key missing or misspelt, instead of rendering shard 0's
// names or an unlabelled object: each is called wrongly from a probe template in a copy of the chart.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { render, RenderError } from '../../scripts/lib/helm.ts';
import { chartDir } from '../../scripts/lib/tools.ts';

const test = suite('helper argument guards');
const scratch = mkdtempSync(join(tmpdir(), 'pgfleet-helpers-'));
const chart = join(scratch, 'pgfleet');
cpSync(chartDir, chart, { recursive: true });
test.after(() => rmSync(scratch, { recursive: true, force: true }));

const probe = (call: string): string => {
  writeFileSync(join(chart, 'templates', 'zz-probe.yaml'), `# {{ ${call} }}\n`);
  try {
    render({ chart, args: ['--show-only', 'templates/zz-probe.yaml'] });
  } catch (e) {
    assert.instance(e, RenderError);
    return (e as Error).message;
  }
  return '';
};

for (const [call, message] of [
  ['include "pgfleet.shard" (dict "root" $ "shrd" 1)', 'pgfleet.shard: needs root and shard'],
  ['include "pgfleet.suffixed" (dict "root" $ "sufix" "x")', 'pgfleet.suffixed: needs root and suffix'],
  ['include "pgfleet.labels" (dict "root" $ "compnent" "database")', 'pgfleet.selectorLabels: needs root and component'],
  ['include "pgfleet.parts" (dict "root" $ "shard" 0 "prt" "env")', 'pgfleet.parts: needs root, shard and part'],
  ['include "pgfleet.pooler.podPlacement" (dict "root" $ "selectr" (dict) "uid" 998)', 'pgfleet.pooler.podPlacement: needs root, selector and uid'],
  ['include "pgfleet.pooler.pdb" (dict "name" "x" "label" "a: b" "selector" (dict "a" "b"))', 'pgfleet.pooler.pdb: needs name, labels and selector'],
  [
    'include "pgfleet.pooler.service" (dict "root" $ "name" "x" "labels" "a: b" "port" (list (dict "name" "p" "port" 1)) "selector" (dict "a" "b"))',
    'pgfleet.pooler.service: needs root, name, labels, ports and selector',
  ],
  ['include "pgfleet.hookAnnotations" (dict "hok" "test")', 'pgfleet.hookAnnotations: needs hook'],
]) {
  test(`${call.split('"')[1]} refuses a misspelt key`, () => {
    assert.match(probe(call), message);
  });
}
test('the probe itself renders when the call is right', () => {
  assert.is(probe('include "pgfleet.shard" (dict "root" $ "shard" 1)'), '');
});

test.run();
