// `npm run -s helm -- <args>`: the project's helm (see scripts/lib/tools.ts for overrides).
import { spawnSync } from 'node:child_process';
import { toolPath } from './lib/tools.ts';

const result = spawnSync(toolPath('helm'), process.argv.slice(2), { stdio: 'inherit' });
process.exit(result.status ?? 1);
