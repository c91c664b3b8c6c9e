// postgresql.parameters, checked the way PostgreSQL 15 reads them: every name must be a setting of the server
// (schema/pg15-settings.json, read from pg_settings by `npm run generate:pg-settings`) or an extension's
// `prefix.name`; each value must have the setting's type, unit grammar (kB/MB/GB, ms/s/min, never Mi/Gi), enum and,
// for a plain number, its bounds.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ONE_LINE, type Schema } from './dsl.ts';

export type PgSetting = {
  name: string;
  vartype: 'bool' | 'integer' | 'real' | 'enum' | 'string';
  unit?: string;
  min?: string;
  max?: string;
  enumvals?: string[];
  context: string;
};

export const PG_SETTINGS_FILE = fileURLToPath(new URL('./pg15-settings.json', import.meta.url));
export const pgSettings = (): PgSetting[] => JSON.parse(readFileSync(PG_SETTINGS_FILE, 'utf8')).settings;

const MEMORY_UNITS = '(B|kB|MB|GB|TB)';
const TIME_UNITS = '(us|ms|s|min|h|d)';
const unitGrammar = (unit?: string) => (!unit ? '' : /B$/.test(unit) ? MEMORY_UNITS : TIME_UNITS);

/** One setting's value: its type, grammar, enum and bounds (bounds apply to plain numbers, in the setting's unit). */
export function settingSchema(s: PgSetting): Schema {
  const bounds = { ...(s.min !== undefined ? { minimum: Number(s.min) } : {}), ...(s.max !== undefined ? { maximum: Number(s.max) } : {}) };
  const range = s.min !== undefined ? `, ${s.min} to ${s.max}${s.unit ? ` (unit ${s.unit})` : ''}` : '';
  const unit = unitGrammar(s.unit);
  switch (s.vartype) {
    case 'bool':
      return { description: 'PostgreSQL 15: boolean', type: ['boolean', 'string', 'integer'], pattern: '^(on|off|true|false|yes|no|1|0)$', minimum: 0, maximum: 1 };
    case 'integer':
      return { description: `PostgreSQL 15: integer${range}`, type: ['integer', 'string'], pattern: `^-?[0-9]+${unit ? ` ?${unit}?` : ''}$`, ...bounds };
    case 'real':
      return { description: `PostgreSQL 15: real${range}`, type: ['number', 'string'], pattern: `^-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?${unit ? ` ?${unit}?` : ''}$`, ...bounds };
    case 'enum': {
      // YAML 1.1 reads an unquoted on/off as a boolean: accept it where the setting takes on/off
      const booleans = s.enumvals!.some((v) => ['on', 'off', 'true', 'false'].includes(v)) ? [true, false] : [];
      return { description: `PostgreSQL 15: one of ${s.enumvals!.join(', ')}`, enum: [...s.enumvals!, ...booleans] };
    }
    default:
      return { description: 'PostgreSQL 15: text (one line)', type: 'string', pattern: ONE_LINE };
  }
}

/**
 * The schema of postgresql.parameters: one property per setting, extension settings (`prefix.name`) as one-line
 * text, anything else refused naming the key.
 */
export function parametersSchema(description: string, def: Record<string, unknown>): Schema {
  return {
    type: 'object', description, default: def,
    properties: Object.fromEntries(pgSettings().map((s) => [s.name, settingSchema(s)])),
    patternProperties: { '^[a-z_][a-z0-9_]*\\.[a-z_][a-z0-9_.]*$': { type: ['string', 'number', 'boolean'], pattern: ONE_LINE } },
    additionalProperties: false,
  };
}

/**
 * The numeric settings' bounds, for the template rule that checks values written as text (`'4GB'`, `'30s'`,
 * `'100'`): PostgreSQL converts them to the setting's unit, integers rounded, then checks these bounds. The
 * schema itself can only bound plain numbers. Written to charts/pgfleet/files/pg-bounds.json by npm run generate.
 */
export function pgBounds(): Record<string, { unit: string; min: number; max: number; integer: boolean }> {
  return Object.fromEntries(pgSettings().filter((s) => (s.vartype === 'integer' || s.vartype === 'real') && s.min !== undefined)
    .map((s) => [s.name, { unit: s.unit ?? '', min: Number(s.min), max: Number(s.max), integer: s.vartype === 'integer' }]));
}
