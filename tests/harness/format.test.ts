// The project's TypeScript is formatted by Prettier (.prettierrc.json; .prettierignore leaves out a file with a
// generator of its own): `npm run format` rewrites it, and this test fails naming any file Prettier would change.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { root } from '../../scripts/lib/tools.ts';

test('every TypeScript file is as Prettier writes it (npm run format)', () => {
  const r = spawnSync(join(root, 'node_modules', '.bin', 'prettier'), ['--check', '**/*.ts'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, `not formatted, npm run format rewrites them:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, 'All matched files use Prettier code style!');
});

test.run();
