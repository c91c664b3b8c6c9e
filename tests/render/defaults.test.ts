import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { find, render } from '../../scripts/lib/helm.ts';

test('default values render one shard with primary + 1 standby', () => {
  const { objects } = render();
  const sts = find(objects, 'StatefulSet');
  assert.is(sts.length, 1);
  assert.is(sts[0]!.spec.replicas, 2);
});

test.run();
