// Values files as helm sees them: defaults from the model, deep-merged with a user's file (maps merge, lists replace).
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import { defaults } from '../../schema/dsl.ts';
import { model } from '../../schema/index.ts';
import { chartDir, root } from '../../scripts/lib/tools.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObj(base) || !isObj(over)) return over === undefined ? base : over;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = v === null ? undefined : deepMerge(base[k], v);
  return out;
}

/** YAML 1.1 as helm reads values (on/off/yes/no are booleans). */
export const readValues = (file: string): Obj => (parse(readFileSync(file, 'utf8'), { version: '1.1' }) ?? {}) as Obj;

export const mergedValues = (file: string) => deepMerge(defaults(model), readValues(file)) as Obj;

export type Fixture = { name: string; file: string; expect: string; layer: 'schema' | 'template' };

export function badValues(): Fixture[] {
  const dir = join(root, 'tests', 'fixtures', 'bad-values');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const file = join(dir, f);
      const [first = '', second = ''] = readFileSync(file, 'utf8').split('\n');
      const expect = /^# expect: (.+)$/.exec(first)?.[1];
      const layer = /^# layer: (schema|template)$/.exec(second)?.[1] as Fixture['layer'] | undefined;
      if (!expect || !layer) throw new Error(`${file}: first lines must be "# expect: <text>" and "# layer: schema|template"`);
      return { name: basename(f, '.yaml'), file, expect, layer };
    });
}

/** Unusual but valid values (tests/fixtures/good-values): limits, rare combinations, acknowledged exposures. */
export const goodValuesFiles = (): string[] => filesIn(join(root, 'tests', 'fixtures', 'good-values'), /\.yaml$/);

/** Every install scenario: the chart's ci/*-values.yaml, the examples/values-*.yaml and the good-values corpus. */
export function scenarioFiles(): string[] {
  return [...filesIn(join(chartDir, 'ci'), /-values\.yaml$/), ...filesIn(join(root, 'examples'), /^values-.*\.yaml$/), ...goodValuesFiles()];
}

const filesIn = (dir: string, name: RegExp) =>
  readdirSync(dir)
    .filter((f) => name.test(f))
    .sort()
    .map((f) => join(dir, f));
