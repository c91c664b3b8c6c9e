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
export const cacheRoot = () =>
  process.env.PGFLEET_CACHE ?? (process.getuid?.() === 0 ? '/var/cache/pgfleet' : join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pgfleet'));

/**
 * Tier 3 (kind, built on this machine). The Go module pins live in images/kind/go.mod and images/kind/tools/*;
 * tests/harness/versions.test.ts fails when they disagree with these. The image tags are the ones kubeadm expects.
 */
export const KIND = {
  kubernetes: 'v1.34.4',
  kind: 'v0.33.0',
  crictl: 'v1.34.0',
  etcd: '3.6.5',
  coredns: 'v1.12.1',
  pause: '3.10.1',
  localPathProvisioner: 'v0.0.30',
  /** Debian release of every root filesystem tier 3 builds (debootstrap). */
  debian: 'bookworm',
} as const;
