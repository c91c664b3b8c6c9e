// `npm run setup:local`: installs the Debian packages the local cluster and the drills run (root, apt-get).
import { spawnSync } from 'node:child_process';
import { PACKAGES, missingPackages } from './lib/local/packages.ts';

const run = (cmd: string, args: string[]) => {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) { console.error(`${cmd} failed (exit ${r.status}); run as root on Debian/Ubuntu`); process.exit(1); }
};
run('apt-get', ['update']);
run('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES]);
const missing = missingPackages();
if (missing.length) { console.error(`still missing after install: ${missing.join(', ')}`); process.exit(1); }
console.log('local cluster prerequisites installed');
