// `npm run generate`: writes every generated file (see scripts/lib/generate.ts); CI checks `git diff` stays clean.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { outputs } from './lib/generate.ts';
import { root } from './lib/tools.ts';

for (const [file, content] of outputs()) {
  if (existsSync(file) && readFileSync(file, 'utf8') === content) continue;
  writeFileSync(file, content);
  console.log(`generated ${relative(root, file)}`);
}
