// `npm run golden`: rewrites tests/fixtures/golden/ (see scripts/lib/golden.ts) after an intended chart change.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { relative } from 'node:path';
import { GOLDEN_DIR, goldenRenders } from './lib/golden.ts';
import { root } from './lib/tools.ts';

mkdirSync(GOLDEN_DIR, { recursive: true });
for (const [file, text] of goldenRenders()) {
  if (existsSync(file) && readFileSync(file, 'utf8') === text) continue;
  writeFileSync(file, text);
  console.log(`wrote ${relative(root, file)}`);
}
