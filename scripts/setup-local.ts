// `npm run setup:local`: installs what the local cluster and the drills run (root): Debian packages with apt-get,
// and Patroni from PyPI into a virtualenv cached by version outside the checkout.
import { spawnSync } from 'node:child_process';
import { PACKAGES, installPatroni, installedPatroni, missingPackages } from './lib/local/packages.ts';

const run = (cmd: string, args: string[]) => {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) {
    console.error(`${cmd} failed (exit ${r.status}); run as root on Debian/Ubuntu`);
    process.exit(1);
  }
};
run('apt-get', ['update']);
run('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES]);
installPatroni(run);
const missing = missingPackages();
if (missing.length) {
  console.error(`still missing after install: ${missing.join(', ')}`);
  process.exit(1);
}
console.log(`local cluster prerequisites installed (Patroni ${installedPatroni()})`);
