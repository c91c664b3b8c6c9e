// Every ci scenario renders exactly as tests/fixtures/golden/ records it: a refactor of the templates must change
// nothing, and an intended change shows up as a reviewed diff of those files (`npm run golden` rewrites them).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GOLDEN_DIR, goldenRenders } from '../../scripts/lib/golden.ts';

const test = suite('golden renders');
const renders = goldenRenders();
for (const [file, text] of renders) {
  test(`${basename(file)} renders as recorded (npm run golden after an intended change)`, () => {
    assert.ok(existsSync(file), `${file} is missing: run npm run golden`);
    assert.fixture(text, readFileSync(file, 'utf8'));
  });
}
test('no golden file without its scenario', () => {
  assert.equal(readdirSync(GOLDEN_DIR).sort(), [...renders.keys()].map((f) => basename(f)).sort());
});
test.run();
