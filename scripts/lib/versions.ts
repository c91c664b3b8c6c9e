// Versions of what the project installs from outside npm, in one place. The chart's default image tag, tier 2's
// Patroni virtualenv and tier 3's builds read them from here; a test checks images/postgres/Dockerfile agrees.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Patroni from PyPI: what the chart's image runs, and what tier 2 runs (never Debian's 3.0.2, see REFERENCE). */
export const PATRONI = '4.1.5';
export const PGBACKREST_IMAGE = '2.59.1';
export const POSTGRES_IMAGE = '17.6';

/** The default tag of the chart's database image (images/postgres/Dockerfile). */
export const IMAGE_TAG = `${POSTGRES_IMAGE}-patroni${PATRONI}-pgbackrest${PGBACKREST_IMAGE}`;

/**
 * Where heavy, versioned installs are cached outside the checkout (a Patroni virtualenv, tier 3's builds), so a
 * fresh clone reuses them: PGFLEET_CACHE, else /var/cache/pgfleet as root, else ~/.cache/pgfleet.
 */
export const cacheRoot = () => process.env.PGFLEET_CACHE ?? (process.getuid?.() === 0 ? '/var/cache/pgfleet' : join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pgfleet'));
