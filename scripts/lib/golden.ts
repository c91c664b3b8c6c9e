// The golden renders: every ci scenario rendered with every credential and certificate from an existing Secret
// (so nothing is random), the chart version replaced by a placeholder (so a bump alone changes nothing) and each
// program embedded from files/scripts replaced by its name (tests/render/contract.test.ts checks the embedding).
// tests/render/golden.test.ts compares them with tests/fixtures/golden/; `npm run golden` rewrites them after an
// intended change, and the diff is what a reviewer reads.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { render } from './helm.ts';
import { chartDir, root } from './tools.ts';

export const GOLDEN_DIR = join(root, 'tests', 'fixtures', 'golden');
const EXISTING = {
  'auth.existingSecret': 'golden-auth',
  'pooler.existingSecret': 'golden-auth',
  'tls.provider': 'existingSecret',
  'tls.existingSecret': 'golden-tls',
  'backups.server.tls.existingSecret': 'golden-backup-tls',
};

/** Each files/scripts program as `.Files.Get ... | nindent 4` embeds it, and the line that stands for it. */
function embeddedScripts(): [string, string][] {
  const dir = join(chartDir, 'files', 'scripts');
  return readdirSync(dir).map((f) => [
    readFileSync(join(dir, f), 'utf8')
      .replace(/\n$/, '')
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n'),
    `    # files/scripts/${f}, embedded as it is`,
  ]);
}

/** Scenario file -> its golden render, for every charts/pgfleet/ci/*-values.yaml. */
export function goldenRenders(): Map<string, string> {
  const out = new Map<string, string>();
  const scripts = embeddedScripts();
  for (const f of readdirSync(join(chartDir, 'ci'))
    .filter((n) => n.endsWith('-values.yaml'))
    .sort()) {
    const text = render({ values: [join(chartDir, 'ci', f)], set: EXISTING }).text;
    const golden = scripts.reduce((t, [body, line]) => t.replaceAll(body, line), text.replace(/^(\s*helm\.sh\/chart: pgfleet-).*$/gm, '$1VERSION'));
    out.set(join(GOLDEN_DIR, basename(f, '-values.yaml') + '.yaml'), golden);
  }
  return out;
}
