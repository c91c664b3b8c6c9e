// The values model: the single source of truth for values.schema.json, values.yaml and the README table.
import { backups } from './backups.ts';
import { core } from './core.ts';
import { monitoring } from './monitoring.ts';
import { obj, type Schema } from './dsl.ts';
import { pooler } from './pooler.ts';

export const model: Schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  ...obj('pgfleet values', { ...core, ...pooler, ...backups, ...monitoring }),
  title: 'pgfleet values',
};
