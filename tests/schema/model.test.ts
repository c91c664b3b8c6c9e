// The values model and what is generated from it.
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { defaults, type Schema } from '../../schema/dsl.ts';
import { model } from '../../schema/index.ts';
import { outputs } from '../../scripts/lib/generate.ts';
import { ajvErrors, chartSchema, validateValues } from '../lib/ajv.ts';
import { mergedValues, scenarioFiles } from '../lib/values.ts';

const generated = suite('generated files');
for (const [file, content] of outputs()) {
  generated(`${file.replace(/.*\/(charts\/)?/, '')} is up to date (npm run generate)`, () => {
    assert.ok(readFileSync(file, 'utf8') === content, `${file} differs from what npm run generate writes`);
  });
}
generated('values.yaml read as YAML 1.1 (like helm) equals the model defaults', () => {
  const text = outputs().get([...outputs().keys()].find((k) => k.endsWith('values.yaml'))!)!;
  assert.equal(parse(text, { version: '1.1' }), defaults(model));
});
generated.run();

const shape = suite('schema shape');
/** Every node of the model down to those carrying their own default (a map's entries, such as each PostgreSQL setting, are its values). */
function walk(node: Schema, path: string, visit: (n: Schema, p: string) => void) {
  visit(node, path);
  if (path && node.default !== undefined) return;
  for (const [k, v] of Object.entries(node.properties ?? {})) walk(v, path ? `${path}.${k}` : k, visit);
}
shape('draft-07, compiles strictly with ajv, accepts the defaults', () => {
  assert.is(chartSchema.$schema, 'http://json-schema.org/draft-07/schema#');
  assert.ok(validateValues(defaults(model)), ajvErrors().join('; '));
});
shape('every key has a description', () => {
  const missing: string[] = [];
  walk(model, '', (n, p) => {
    if (p && !n.description) missing.push(p);
  });
  assert.equal(missing, []);
});
shape('every object is closed except global and declared free-form maps', () => {
  const open: string[] = [];
  walk(model, '', (n, p) => {
    if (n.type === 'object' && n.properties && n.additionalProperties !== false) open.push(p || '(root)');
  });
  assert.equal(open, []);
  assert.is(chartSchema.properties.global.additionalProperties, undefined);
});
shape('every leaf has a default', () => {
  const missing: string[] = [];
  walk(model, '', (n, p) => {
    if (!n.properties && n.default === undefined) missing.push(p);
  });
  assert.equal(missing, []);
});
shape.run();

const scenarios = suite('scenario values are schema-valid');
for (const file of scenarioFiles()) {
  scenarios(file.replace(/.*\//, ''), () => {
    assert.ok(validateValues(mergedValues(file)), ajvErrors().join('; '));
  });
}
scenarios.run();
