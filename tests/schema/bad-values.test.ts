// The bad-values corpus: every file is refused by `helm template` with a message naming the offending key,
// and ajv agrees with the layer the file declares (schema: refused by values.schema.json; template: a
// cross-field rule the schema cannot express, so the schema alone accepts it). The good-values files are install
// scenarios (tests/lib/values.ts scenarioFiles): the scenario, schema, lint, pg_hba and parameter tests run them all.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { render, RenderError } from '../../scripts/lib/helm.ts';
import { ajvErrors, validateValues } from '../lib/ajv.ts';
import { badValues, goodValuesFiles, mergedValues } from '../lib/values.ts';

const fixtures = badValues();

const corpus = suite('bad values corpus');
corpus('has at least 150 files, both layers represented, and at least 20 good-values files', () => {
  assert.ok(fixtures.length >= 150, `only ${fixtures.length} bad values files`);
  assert.ok(goodValuesFiles().length >= 20, `only ${goodValuesFiles().length} good values files`);
  assert.ok(fixtures.some((f) => f.layer === 'schema') && fixtures.some((f) => f.layer === 'template'));
});
corpus.run();

const helm = suite('helm template refuses bad values');
for (const f of fixtures) {
  helm(`${f.name}: refused naming "${f.expect}"`, () => {
    try {
      render({ values: [f.file] });
    } catch (e) {
      assert.instance(e, RenderError);
      assert.ok((e as Error).message.includes(f.expect), `helm's message does not contain "${f.expect}":\n${(e as Error).message}`);
      return;
    }
    assert.unreachable(`${f.name} rendered without error`);
  });
}
helm.run();

const ajv = suite('ajv agrees with the declared layer');
for (const f of fixtures) {
  ajv(`${f.name} (${f.layer})`, () => {
    const valid = validateValues(mergedValues(f.file));
    if (f.layer === 'template') {
      assert.ok(valid, `the schema already refuses it, so it is a schema-layer file: ${ajvErrors().join('; ')}`);
    } else {
      assert.not.ok(valid, 'ajv accepts values that helm refuses');
      const key = f.expect.split('.').pop()!;
      assert.ok(
        ajvErrors().some((m) => m.includes(key)),
        `no ajv error names "${key}": ${ajvErrors().join('; ')}`,
      );
    }
  });
}
ajv.run();
