// The README's layout table matches the tree: every path it names exists, and every directory of tests/ and
// scripts/lib/ and every template directory is named in it.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { root } from '../../scripts/lib/tools.ts';

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('## Layout'), readme.indexOf('\n## ', readme.indexOf('## Layout') + 1));
const dirsOf = (dir: string) => readdirSync(join(root, dir)).filter((d) => statSync(join(root, dir, d)).isDirectory());

const layout = suite('README layout');
layout('the section exists and every top-level path it names exists', () => {
  assert.ok(section.length > 100, 'README.md has no "## Layout" section');
  const paths = [...section.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1]!);
  assert.ok(paths.length >= 8);
  for (const p of paths) assert.ok(existsSync(join(root, p)), `README layout names ${p}, which does not exist`);
});
layout("every directory of tests/, scripts/lib/ and the chart's templates/ is named", () => {
  const named = (d: string) => section.includes(`\`${d}/\``);
  for (const d of dirsOf('tests')) assert.ok(named(`tests/${d}`), `tests/${d}/ is missing from the README layout`);
  for (const d of dirsOf('scripts/lib')) assert.ok(named(d), `scripts/lib/${d}/ is missing from the README layout`);
  for (const d of dirsOf('charts/pgfleet/templates')) assert.ok(named(d), `templates/${d}/ is missing from the README layout`);
});
layout.run();
