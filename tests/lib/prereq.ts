// The runtime tier's prerequisites (tests/runtime): root, the Debian packages and Patroni that `npm run
// setup:local` installs. `npm test` runs the tier when they are all here and otherwise says in one line that it
// skipped it; with PGFLEET_REQUIRE_RUNTIME=1 (as .ci/run sets it) a missing one fails the run instead.
import { existsSync } from 'node:fs';
import { missingPackages } from '../../scripts/lib/local/packages.ts';

/** What the runtime tier needs and this machine lacks (empty: run it). */
export function runtimeMissing(): string[] {
  const missing = process.getuid?.() === 0 ? [] : ['root (the tests run PostgreSQL as the postgres user)'];
  missing.push(...missingPackages());
  for (const [bin, pkg] of [
    ['/usr/bin/yamllint', 'yamllint'],
    ['/usr/bin/promtool', 'prometheus (promtool)'],
    ['/usr/bin/shellcheck', 'shellcheck'],
  ] as const)
    if (!existsSync(bin)) missing.push(pkg);
  return missing;
}

export const RUNTIME_REQUIRED = process.env.PGFLEET_REQUIRE_RUNTIME === '1';
