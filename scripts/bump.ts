// `npm run bump [-- major|minor|patch]`: bumps the chart version in Chart.yaml and everywhere the docs name it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartDir, root } from './lib/tools.ts';

const part = process.argv[2] ?? 'patch';
const chartFile = join(chartDir, 'Chart.yaml');
const chart = readFileSync(chartFile, 'utf8');
const current = /^version: (\d+)\.(\d+)\.(\d+)$/m.exec(chart);
if (!current) throw new Error(`${chartFile}: no plain x.y.z version line`);
const [major, minor, patch] = current.slice(1).map(Number) as [number, number, number];
const next =
  part === 'major' ? `${major + 1}.0.0` : part === 'minor' ? `${major}.${minor + 1}.0` : part === 'patch' ? `${major}.${minor}.${patch + 1}` : undefined;
if (!next) throw new Error(`usage: npm run bump -- major|minor|patch (got ${part})`);
const was = `${major}.${minor}.${patch}`;
writeFileSync(chartFile, chart.replace(/^version: .*$/m, `version: ${next}`));
for (const file of [join(root, 'README.md'), join(root, 'examples', 'k3s-helmchart.yaml'), join(root, 'examples', 'argocd-application.yaml')]) {
  const text = readFileSync(file, 'utf8');
  writeFileSync(
    file,
    text
      .replaceAll(`--version ${was}`, `--version ${next}`)
      .replaceAll(`version: ${was}`, `version: ${next}`)
      .replaceAll(`targetRevision: ${was}`, `targetRevision: ${next}`),
  );
}
console.log(`chart version ${was} -> ${next}`);
