// Tier 3 entry point: where Docker or kind is missing it skips with a clear message and exits 0.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { root } from '../../scripts/lib/tools.ts';

test('npm run e2e:kind skips, naming what is missing, when docker cannot reach an engine', () => {
  // A PATH whose docker always fails (as on machines with only the client) and that has no kind.
  const bin = mkdtempSync(join(tmpdir(), 'pgfleet-nodocker-'));
  writeFileSync(join(bin, 'docker'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/e2e-kind.ts'], { cwd: root, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`.split(':').filter((d) => !/kind/.test(d)).join(':') } });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, 'e2e:kind skipped: needs a running Docker engine (docker info)');
});

test.run();
