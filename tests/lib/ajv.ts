// The chart's values.schema.json compiled with ajv (draft-07, all errors): the second, independent validator.
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartDir } from '../../scripts/lib/tools.ts';

export const chartSchema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8'));
const ajv = new Ajv.default({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
addFormats.default(ajv);
export const validateValues = ajv.compile(chartSchema);
/** A validator of one node of the chart's schema (a leaf's own grammar), compiled with the same options. */
export const compileNode = (node: object) => ajv.compile(node);

/** Human-readable ajv errors, each naming the values path and the offending key where there is one. */
export function ajvErrors(): string[] {
  return (validateValues.errors ?? []).map((e) => {
    const path = e.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(root)';
    const key = (e.params as Record<string, unknown>).additionalProperty ?? (e.params as Record<string, unknown>).propertyName;
    return `${path}${key ? `.${key}` : ''}: ${e.message}`;
  });
}
