// `npm run setup:kind`: everything tier 3 needs, built on this machine and cached by version outside the checkout
// (see images/kind/README.md): Debian's Docker engine, debootstrap and registry; the Go binaries; the kind node
// image and the database test image. Idempotent: a second run finds everything and only checks it.
import { spawnSync } from 'node:child_process';
import { goBinaries, dockerWith, run, step } from './lib/kind/build.ts';
import { startEngine } from './lib/kind/docker.ts';
import { buildImages } from './lib/kind/images.ts';
import { KIND } from './lib/versions.ts';
import { join } from 'node:path';

const APT = ['docker.io', 'debootstrap', 'docker-registry', 'containerd', 'iptables', 'tar'];
const t0 = Date.now();
if (process.getuid?.() !== 0) {
  console.error('setup:kind needs root (debootstrap, dockerd)');
  process.exit(1);
}
const missing = APT.filter((p) => spawnSync('dpkg-query', ['-W', '-f', '${Status}', p], { encoding: 'utf8' }).stdout !== 'install ok installed');
if (missing.length) {
  await step(`apt-get install ${missing.join(' ')}`, () => {
    run('apt-get', ['update', '-q']);
    run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
  });
}
const bin = await step('Go binaries', goBinaries);
const engine = await startEngine(join(bin, 'pgfleet-runc'));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(sig, () => {
    void engine.stop().finally(() => process.exit(130));
  });
try {
  const images = await buildImages(dockerWith(engine.host), bin);
  console.log(`tier 3 ready (Kubernetes ${KIND.kubernetes}, kind ${KIND.kind}) in ${((Date.now() - t0) / 1000).toFixed(0)} s:`);
  console.log(`  node image     ${images.node}\n  database image ${images.chart.db}\n  binaries       ${bin}`);
} finally {
  await engine.stop();
}
