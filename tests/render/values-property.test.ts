// The values surface as an attacker sees it: every string leaf of values.schema.json (array items and free-form
// map values included) gets each hostile payload. Each one must be refused naming the leaf (by the schema, which
// helm applies too, or by a template rule), or render to exactly the structure a harmless value gives, the
// payload appearing only as a whole literal value (in a manifest, or in a config file a ConfigMap carries).
// New keys are covered without anyone writing a test.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { parse as parseIni } from 'ini';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { renderAsync, RenderError, type K8sObject } from '../../scripts/lib/helm.ts';
import { defaults } from '../../schema/dsl.ts';
import { model } from '../../schema/index.ts';
import { chartSchema, compileNode } from '../lib/ajv.ts';
import { readValues, scenarioFiles } from '../lib/values.ts';

type Path = (string | number)[];
type Leaf = { path: Path; label: string; samples: string[]; schema: object };

/** A newline plus a YAML key, each quote, a command substitution, a backtick, a comment, a pg_hba line, an ini section. */
export const PAYLOADS = ['\n          hostPID: true', '"q', "'q", '$(id)', '`id`', ' #c', '\nhost all all 0.0.0.0/0 trust', '\n[evil]\nk = v'];

/** Every string leaf of a JSON schema; map values sit under the key `k1` (`k1.k1` or `k1/k1` where the keys need a dot or a prefix), array items at index 0. */
export function stringLeaves(schema: any): Leaf[] {
  const out = new Map<string, Leaf>();
  const walk = (s: any, path: Path, label: string) => {
    if (!s || typeof s !== 'object') return;
    for (const k of ['oneOf', 'anyOf', 'allOf']) for (const x of s[k] ?? []) walk(x, path, label);
    if ([s.type ?? []].flat().includes('string') && !out.has(label)) out.set(label, { path, label, samples: [], schema: s });
    for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, [...path, k], label ? `${label}.${k}` : k);
    if (typeof s.additionalProperties === 'object') walk(s.additionalProperties, [...path, 'k1'], `${label}.*`);
    for (const [pattern, v] of Object.entries(s.patternProperties ?? {})) {
      const key = ['k1', 'k1.k1', 'k1/k1'].find((k) => new RegExp(pattern).test(k));
      if (!key) throw new Error(`${label}: no sample key matches ${pattern}`);
      walk(v, [...path, key], `${label}.*`);
    }
    if (s.items) walk(s.items, [...path, 0], `${label}[]`);
  };
  walk(schema, [], '');
  return [...out.values()];
}

const leaves = stringLeaves(chartSchema);
/** Real values of each leaf (defaults, ci scenarios, examples): a payload is also tried after each of them. */
const collect = (v: unknown, label: string) => {
  const leaf = leaves.find((l) => l.label === label);
  if (typeof v === 'string' && v && leaf && !leaf.samples.includes(v) && leaf.samples.length < 2) leaf.samples.push(v);
  else if (Array.isArray(v)) v.forEach((x) => collect(x, `${label}[]`));
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) {
      collect(x, label ? `${label}.${k}` : k);
      collect(x, `${label}.*`);
    }
};
collect(defaults(model), '');
for (const f of scenarioFiles()) collect(readValues(f), '');

/** Sets `value` at `path` inside `root` (made as needed: arrays for numeric steps), merging with what is there. */
const setIn = (root: any, path: Path, value: unknown) => {
  let o = root;
  path.forEach((k, i) => {
    if (i === path.length - 1) o[k] = value;
    else o = o[k] ??= typeof path[i + 1] === 'number' ? [] : {};
  });
  return root;
};
const dotted = (path: Path) => path.join('.');
/** How helm (schema: /a/b/0) or a template rule (a.b[0], a.b.k1) names the leaf. */
const names = (message: string, path: Path) =>
  message.includes(`'/${path.map((k) => String(k).replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}'`) ||
  message.includes(dotted(path)) ||
  message.includes(path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i ? `.${k}` : k)).join(''));
const marker = (i: number) => `pfq${i}z`;

const dir = mkdtempSync(join(tmpdir(), 'pgfleet-property-'));
let renders = 0;
/** helm template with these values (a file each, so renders run side by side). */
function renderWith(values: unknown) {
  const file = join(dir, `values-${renders++}.json`);
  writeFileSync(file, JSON.stringify(values));
  return renderAsync({ values: [file] });
}

type Trial = { leaf: Leaf; index: number; payload: string };
const refusedBySchema: Trial[] = [];
const accepted: Trial[] = [];

const schemaPhase = suite('every string leaf x every payload: the schema refuses it naming the leaf, or it goes on to render');
schemaPhase(`walks ${leaves.length} string leaves with ${PAYLOADS.length} payloads`, () => {
  assert.ok(leaves.length >= 140, `only ${leaves.length} string leaves found: the walker missed part of the schema`);
  leaves.forEach((leaf, index) => {
    // the leaf's own grammar (fast); helm's refusal of the whole values, naming each leaf, is checked below
    const valid = compileNode(leaf.schema);
    for (const payload of PAYLOADS) {
      // the payload alone, after each real value of the leaf, and after the marker the render phase looks for
      const values = [payload, ...leaf.samples.map((s) => s + payload), marker(index) + payload];
      const verdicts = values.map((v) => Boolean(valid(v)));
      if (verdicts.some(Boolean) && !verdicts.at(-1))
        assert.unreachable(
          `${leaf.label}: accepts ${JSON.stringify(values[verdicts.indexOf(true)])} but not the payload after the marker ${marker(index)}: a pattern anchored only at its start lets a payload through after a valid prefix`,
        );
      (verdicts.some(Boolean) ? accepted : refusedBySchema).push({ leaf, index, payload });
    }
  });
  const free = new Set(accepted.map((t) => t.leaf.label));
  console.log(
    `  ${leaves.length} string leaves x ${PAYLOADS.length} payloads: ${refusedBySchema.length} refused by the schema, ${accepted.length} (in ${free.size} free-text leaves) rendered`,
  );
});

schemaPhase('helm applies the same schema: one render per payload with every schema-refused leaf set names each of them', async () => {
  await Promise.all(
    PAYLOADS.map(async (payload) => {
      const trials = refusedBySchema.filter((t) => t.payload === payload);
      const message = await renderWith(trials.reduce((v, t) => setIn(v, t.leaf.path, payload), {})).then(
        () => '',
        (e) => (e as Error).message,
      );
      assert.ok(message, `helm accepted ${JSON.stringify(payload)} in ${trials.length} leaves the schema refuses`);
      const missed = trials.filter((t) => !names(message, t.leaf.path)).map((t) => t.leaf.label);
      assert.equal(missed, [], `helm's refusal of ${JSON.stringify(payload)} does not name: ${missed.join(', ')}`);
    }),
  );
});
schemaPhase.run();

/** Parses a config file a ConfigMap or Secret carries, by its key's extension; undefined when not a config file. */
function parseFile(key: string, text: string): unknown {
  switch (extname(key)) {
    case '.yaml':
    case '.yml':
      return parseYaml(text, { version: '1.1' });
    case '.json':
      return JSON.parse(text);
    case '.toml':
      return parseToml(text);
    case '.ini':
    case '.conf':
      return parseIni(text);
    default:
      return undefined;
  }
}

/** Values Patroni writes as lines of postgresql.conf or pg_hba.conf: a line break there splits the line. */
const LINE_BASED = /(^|\.)parameters\.[^.]+$|(^|\.)pg_hba\.\d+$/;

/**
 * Shape and literal check of one rendered manifest list. Returns the key paths (config files included) and
 * collects every place a marked value appears as anything but the whole value it was given.
 */
function inspect(objects: K8sObject[], expected: Map<string, string>, problems: string[]): Set<string> {
  const shape = new Set<string>();
  const visit = (v: unknown, where: string, inFile: boolean, key = '', parent = '') => {
    shape.add(where);
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${where}.${i}`, inFile, String(i), where));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) visit(x, `${where}.${k}`, inFile, k, where);
    else if (typeof v === 'string') {
      const data = !inFile && /\.(data|stringData)$/.test(parent);
      const file = data ? parseFile(key, parent.endsWith('.data') && !where.startsWith('ConfigMap/') ? Buffer.from(v, 'base64').toString() : v) : undefined;
      if (file !== undefined) return visit(file, `${where}>`, true);
      const m = /pfq\d+z/.exec(v);
      if (!m) return;
      if (v !== expected.get(m[0])) problems.push(`${where}: ${JSON.stringify(v)} is not the literal value ${JSON.stringify(expected.get(m[0]))}`);
      else if (inFile && LINE_BASED.test(where.split('>').at(-1)!.slice(1)) && /[\r\n]/.test(v))
        problems.push(`${where}: a line break in a value Patroni writes as a line`);
    }
  };
  for (const o of objects) visit(o, `${o.kind}/${o.metadata?.name}`, false);
  return shape;
}

const renderPhase = suite('free-text leaves: refused naming the leaf, or the same structure with the payload only as a literal');
const scenarioOf = new Map<number, string>();
/** Free-text leaves a template rule refuses whatever they hold (settings the chart manages). */
const refusedAlways = new Set<number>();
renderPhase('every free-text leaf is rendered by some ci scenario, or refused by a template rule whatever its value, naming it', async () => {
  const free = [...new Map(accepted.map((t) => [t.index, t.leaf])).keys()];
  const files = scenarioFiles();
  const seen = await Promise.all(
    files.map(async (file) => {
      // a leaf a template rule refuses even with a harmless value (a setting the chart manages) carries nothing
      let todo = free;
      for (;;) {
        const r = await renderWith(todo.reduce((v, i) => setIn(v, leaves[i]!.path, marker(i)), readValues(file))).catch((e: Error) => e);
        if (r instanceof Error) {
          const named = todo.filter((i) => names(r.message, leaves[i]!.path));
          assert.ok(named.length, `${file}: harmless markers refused without naming a leaf: ${r.message}`);
          for (const i of named) refusedAlways.add(i);
          todo = todo.filter((i) => !named.includes(i));
          continue;
        }
        return todo.filter((i) => r.text.includes(marker(i)));
      }
    }),
  );
  // the first scenario in file order that renders a leaf checks it (deterministic groups)
  files.forEach((file, n) => {
    for (const i of seen[n]!) if (!scenarioOf.has(i)) scenarioOf.set(i, file);
  });
  for (const i of scenarioOf.keys()) refusedAlways.delete(i);
  assert.equal(
    free.filter((i) => !scenarioOf.has(i) && !refusedAlways.has(i)).map((i) => leaves[i]!.label),
    [],
    'free-text leaves no ci scenario renders',
  );
});

/** The same leaves with harmless values render once per scenario, whatever the payload. */
const harmlessRenders = new Map<string, ReturnType<typeof renderWith>>();

/** One scenario, one payload in each of its free-text leaves that the schema let through. */
async function attack(file: string, indexes: number[], payload: string): Promise<void> {
  let todo = indexes.filter((i) => accepted.some((t) => t.index === i && t.payload === payload));
  const values = (p: string) => todo.reduce((v, i) => setIn(v, leaves[i]!.path, marker(i) + p), readValues(file));
  while (todo.length) {
    const hostile = await renderWith(values(payload)).catch((e: Error) => e);
    if (hostile instanceof Error) {
      assert.instance(hostile, RenderError);
      const named = todo.filter((i) => names(hostile.message, leaves[i]!.path));
      assert.ok(named.length, `${file}: ${JSON.stringify(payload)} refused without naming a leaf: ${hostile.message}`);
      todo = todo.filter((i) => !named.includes(i));
      continue;
    }
    const problems: string[] = [];
    const shape = inspect(hostile.objects, new Map(todo.map((i) => [marker(i), marker(i) + payload])), problems);
    const plain = values('');
    const key = JSON.stringify(plain);
    if (!harmlessRenders.has(key)) harmlessRenders.set(key, renderWith(plain));
    const harmless = inspect((await harmlessRenders.get(key)!).objects, new Map(todo.map((i) => [marker(i), marker(i)])), []);
    assert.equal(problems, [], `${file}: ${JSON.stringify(payload)} spliced into the output`);
    const added = [...shape].filter((k) => !harmless.has(k));
    const lost = [...harmless].filter((k) => !shape.has(k));
    assert.equal({ added, lost }, { added: [], lost: [] }, `${file}: ${JSON.stringify(payload)} changed the structure`);
    return;
  }
}

renderPhase('each payload in every free-text leaf at once, per scenario: refusals name a leaf, renders keep the structure', async () => {
  const byScenario = new Map<string, number[]>();
  for (const [i, file] of scenarioOf) byScenario.set(file, [...(byScenario.get(file) ?? []), i]);
  const first = renders;
  try {
    await Promise.all([...byScenario].flatMap(([file, indexes]) => PAYLOADS.map((payload) => attack(file, indexes, payload))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `  ${scenarioOf.size} free-text leaves in ${byScenario.size} scenarios (${refusedAlways.size} more refused by a template rule, naming them): ${renders - first} renders`,
  );
});
renderPhase.run();
