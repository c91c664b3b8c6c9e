// What tier 3 builds on this machine, cached by version outside the checkout (cacheRoot()/kind):
//   - Go binaries from the pinned modules in images/kind (Kubernetes, kind, crictl, etcd, CoreDNS, the
//     local-path provisioner, and the project's own pgfleet-net, pause and pgfleet-runc);
//   - root filesystems from Debian's packages (debootstrap), for the kind node, the small images that need a
//     shell or iptables, and the database test image;
//   - the images, with the control-plane, CNI, DNS and storage images stored in the node image's containerd
//     (as `kind build node-image` does, but from these inputs: nothing comes from an image registry).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { KIND, PATRONI, cacheRoot } from '../versions.ts';
import { root } from '../tools.ts';
import { sleep } from '../proc.ts';

export const kindDir = join(root, 'images', 'kind');
export const kindCache = () => join(cacheRoot(), 'kind');
const goEnv = () => {
  const go = join(cacheRoot(), 'go');
  return { GOPATH: go, GOMODCACHE: join(go, 'mod'), GOCACHE: join(go, 'cache'), GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-trimpath' };
};

/** Prints and runs a command with the given environment; throws naming it when it fails. */
export function run(cmd: string, args: string[], o: { env?: Record<string, string>; cwd?: string; input?: string | Buffer; quiet?: boolean } = {}): string {
  if (!o.quiet) console.log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, {
    cwd: o.cwd,
    input: o.input,
    env: { ...process.env, ...o.env },
    maxBuffer: 256 << 20,
    stdio: [o.input === undefined ? 'inherit' : 'pipe', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 4).join(' ')}… failed (exit ${r.status ?? r.signal})${r.error ? `: ${r.error.message}` : ''}`);
  return r.stdout;
}

/** Runs `fn` as a named step and prints how long it took. */
export async function step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
  const t0 = Date.now();
  console.log(`▶ ${name}`);
  const v = await fn();
  console.log(`✔ ${name} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  return v;
}

/** A short content hash of files and strings: the cache key of what they produce. */
export function cacheKey(parts: (string | { file: string })[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? p : readFileSync(p.file)).update('\0');
  return h.digest('hex').slice(0, 12);
}

/** Removes the entries of `dir` matching `pattern` other than `keep`: what an earlier version built. */
function prune(dir: string, pattern: RegExp, keep: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir)) if (pattern.test(e) && join(dir, e) !== keep) rmSync(join(dir, e), { recursive: true, force: true });
}

const files = (dir: string, ext: RegExp): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && ext.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();

// ---------------------------------------------------------------------------------------------- Go binaries

type GoBinary = { name: string; module: string; pkg: string; ldflags?: string };

const k8sLdflags = () => {
  const [major, minor] = KIND.kubernetes.slice(1).split('.');
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']
    .flatMap((p) => [
      `-X ${p}.gitVersion=${KIND.kubernetes}`,
      `-X ${p}.gitMajor=${major}`,
      `-X ${p}.gitMinor=${minor}`,
      `-X ${p}.gitTreeState=clean`,
      `-X ${p}.buildDate=1970-01-01T00:00:00Z`,
    ])
    .join(' ');
};

export const GO_BINARIES: GoBinary[] = [
  ...['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'kubelet', 'kubeadm', 'kubectl'].map((n) => ({
    name: n,
    module: '.',
    pkg: `k8s.io/kubernetes/cmd/${n}`,
    ldflags: k8sLdflags(),
  })),
  { name: 'kind', module: '.', pkg: 'sigs.k8s.io/kind' },
  { name: 'crictl', module: '.', pkg: 'sigs.k8s.io/cri-tools/cmd/crictl' },
  { name: 'pgfleet-net', module: '.', pkg: './cmd/pgfleet-net' },
  { name: 'pause', module: '.', pkg: './cmd/pause' },
  { name: 'pgfleet-runc', module: 'runc-wrapper', pkg: '.' },
  { name: 'etcd', module: 'tools/etcd', pkg: 'go.etcd.io/etcd/server/v3' },
  { name: 'etcdctl', module: 'tools/etcd', pkg: 'go.etcd.io/etcd/etcdctl/v3' },
  { name: 'coredns', module: 'tools/coredns', pkg: 'github.com/coredns/coredns' },
  { name: 'local-path-provisioner', module: 'tools/local-path-provisioner', pkg: 'github.com/rancher/local-path-provisioner' },
];

/** Builds every Go binary tier 3 needs (once per set of pins and sources); returns the directory holding them. */
export async function goBinaries(): Promise<string> {
  const key = cacheKey([JSON.stringify(GO_BINARIES), ...files(kindDir, /^(go\.mod|go\.sum|[^.]+\.go)$/).map((file) => ({ file }))]);
  const dir = join(kindCache(), `bin-${key}`);
  const missing = GO_BINARIES.filter((b) => !existsSync(join(dir, b.name)));
  if (!missing.length) return dir;
  prune(kindCache(), /^bin-/, dir);
  mkdirSync(dir, { recursive: true });
  for (const b of missing) {
    await step(`go build ${b.name} (${b.pkg})`, () =>
      run('go', ['build', '-ldflags', `-s -w ${b.ldflags ?? ''}`.trim(), '-o', join(dir, `${b.name}.tmp`), b.pkg], {
        cwd: join(kindDir, b.module),
        env: goEnv(),
      }),
    );
    renameSync(join(dir, `${b.name}.tmp`), join(dir, b.name));
  }
  return dir;
}

// ------------------------------------------------------------------------------------------ root filesystems

/** Debian packages of each root filesystem (debootstrap --variant=minbase --include). */
export const ROOTFS = {
  /** A kind node: systemd as PID 1, containerd with Debian's runc and CNI plugins, what kubelet and kind's entrypoint call. */
  node: [
    'systemd',
    'systemd-sysv',
    'dbus',
    'iproute2',
    'iptables',
    'ca-certificates',
    'containerd',
    'runc',
    'containernetworking-plugins',
    'conntrack',
    'ethtool',
    'socat',
    'mount',
    'util-linux',
    'kmod',
    'procps',
    'libseccomp2',
  ],
  /** The images that need more than one static binary: kube-proxy and pgfleet-net (iptables, conntrack), the storage helper (sh), kubectl. */
  base: ['iptables', 'conntrack', 'ca-certificates'],
  /** The database test image: Debian's PostgreSQL 15 and tools; Patroni from PyPI is added by `customizeDb`. */
  db: [
    'ca-certificates',
    'python3',
    'python3-venv',
    'python3-psycopg2',
    'jq',
    'postgresql-15',
    'postgresql-client-15',
    'pgbackrest',
    'pgbouncer',
    'prometheus-postgres-exporter',
    'procps',
    'netbase',
  ],
} as const;

const MIRROR = 'http://deb.debian.org/debian';

/**
 * Mounts /proc and lends the host's name resolution and CA bundle (the registries may be reached through a proxy
 * with its own CA) to a chroot for `fn`; puts the chroot's own files back afterwards.
 */
function inChroot<T>(dir: string, fn: (chroot: (argv: string[]) => string) => T): T {
  mkdirSync(join(dir, 'proc'), { recursive: true });
  run('mount', ['-t', 'proc', 'proc', join(dir, 'proc')], { quiet: true });
  const saved = ['etc/hosts', 'etc/resolv.conf', 'etc/ssl/certs/ca-certificates.crt'].map(
    (f) => [f, existsSync(join(dir, f)) ? readFileSync(join(dir, f)) : undefined] as const,
  );
  try {
    for (const [f] of saved) cpSync(join('/', f), join(dir, f));
    // the host's pip settings name host paths (PIP_FIND_LINKS, PIP_CERT): the chroot has its own
    const env = {
      DEBIAN_FRONTEND: 'noninteractive',
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C.UTF-8',
      PIP_FIND_LINKS: '',
      PIP_CERT: '/etc/ssl/certs/ca-certificates.crt',
    };
    return fn((argv) => run('chroot', [dir, ...argv], { env }));
  } finally {
    for (const [f, data] of saved) data === undefined ? rmSync(join(dir, f), { force: true }) : writeFileSync(join(dir, f), data);
    spawnSync('umount', [join(dir, 'proc')]);
  }
}

/**
 * A Debian root filesystem with `packages`, customised by `customize`, as a tar in the cache (built once per key).
 * `customize` runs commands inside it (chroot with /proc and the host's name resolution).
 */
export async function rootfs(name: keyof typeof ROOTFS, key: string, customize?: (dir: string) => void | Promise<void>): Promise<string> {
  const tar = join(kindCache(), 'rootfs', `${name}-${KIND.debian}-${key}.tar`);
  if (existsSync(tar)) return tar;
  const dir = join(kindCache(), 'work', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(tar), { recursive: true });
  prune(dirname(tar), new RegExp(`^${name}-`), tar);
  await step(`debootstrap ${name} (${ROOTFS[name].length} packages)`, () =>
    run('debootstrap', ['--variant=minbase', `--include=${ROOTFS[name].join(',')}`, KIND.debian, dir, MIRROR], { input: '' }),
  );
  if (customize) await step(`customise ${name}`, () => customize(dir));
  // no package lists or caches in an image
  for (const d of ['var/lib/apt/lists', 'var/cache/apt/archives', 'var/cache/debconf', 'root/.cache']) {
    rmSync(join(dir, d), { recursive: true, force: true });
    mkdirSync(join(dir, d), { recursive: true });
  }
  run('tar', ['--numeric-owner', '--xattrs', '-C', dir, '-cf', `${tar}.tmp`, '.'], { quiet: true });
  renameSync(`${tar}.tmp`, tar);
  rmSync(dir, { recursive: true, force: true });
  return tar;
}

/** The database test image: the same UID (999), paths and entry point as images/postgres/Dockerfile. */
export function customizeDb(dir: string): void {
  inChroot(dir, (chroot) => {
    // The chart runs PostgreSQL as 999:999 and mounts its data there: the image's postgres user has that UID.
    const uid = chroot(['id', '-u', 'postgres']).trim();
    if (uid !== '999') {
      chroot(['usermod', '-u', '999', 'postgres']);
      chroot(['groupmod', '-g', '999', 'postgres']);
      chroot(['sh', '-c', `find / -xdev \\( -uid ${uid} -o -gid ${uid} \\) -exec chown -h 999:999 {} +`]);
    }
    chroot(['python3', '-m', 'venv', '--system-site-packages', '/opt/patroni']);
    chroot(['/opt/patroni/bin/pip', 'install', '--no-cache-dir', '--disable-pip-version-check', `patroni[kubernetes,etcd3]==${PATRONI}`]);
    chroot(['ln', '-sf', '/opt/patroni/bin/patroni', '/opt/patroni/bin/patronictl', '/usr/local/bin/']);
    chroot([
      'sh',
      '-c',
      'mkdir -p /var/run/postgresql /var/lib/postgresql/data /var/log/pgbackrest /var/spool/pgbackrest && chown -R 999:999 /var/run/postgresql /var/lib/postgresql /var/log/pgbackrest /var/spool/pgbackrest',
    ]);
  });
}

// -------------------------------------------------------------------------------------------------- images

export type Docker = (args: string[], o?: { input?: string | Buffer; quiet?: boolean }) => string;

export const dockerWith =
  (host: string): Docker =>
  (args, o = {}) =>
    run('docker', args, { env: { DOCKER_HOST: host, DOCKER_BUILDKIT: '0' }, ...o });

/** Whether the engine has `tag`; with `key`, only when the image was built from inputs of that key (its label). */
export const hasImage = (docker: Docker, tag: string, key?: string) => {
  if (docker(['image', 'ls', '--quiet', tag], { quiet: true }).trim() === '') return false;
  return key === undefined || docker(['image', 'inspect', '--format', '{{index .Config.Labels "pgfleet.key"}}', tag], { quiet: true }).trim() === key;
};

/**
 * An image from a Dockerfile (text) and a context directory, unless the engine has it from the same inputs:
 * `inputs` names what the context holds (e.g. the binaries' cache key); the Dockerfile is part of the key.
 */
export function buildImage(docker: Docker, tag: string, dockerfile: string, context: string, inputs: string, fill?: () => void): void {
  const key = cacheKey([dockerfile, inputs]);
  if (hasImage(docker, tag, key)) return;
  rmSync(context, { recursive: true, force: true });
  mkdirSync(context, { recursive: true });
  fill?.();
  writeFileSync(join(context, 'Dockerfile'), `${dockerfile}\nLABEL pgfleet.key=${key}\n`);
  docker(['build', '--quiet', '--tag', tag, context]);
}

/** Imports a root filesystem tar as an image with the given Dockerfile-style changes. */
export function importImage(docker: Docker, tag: string, tar: string, changes: string[]): void {
  docker(['import', ...changes.flatMap((c) => ['--change', c]), tar, tag]);
}

/**
 * Stores images (from `docker save`) in a root filesystem's containerd, as the node's containerd will find them
 * (namespace k8s.io, not unpacked: the node's snapshotter unpacks on first use). Runs Debian's containerd on this
 * host against that root, on a socket of its own, and stops it by PID.
 */
export async function preloadImages(docker: Docker, rootDir: string, images: string[]): Promise<void> {
  const state = join(kindCache(), 'work', 'containerd-state');
  const sock = join(state, 'containerd.sock');
  rmSync(state, { recursive: true, force: true });
  mkdirSync(state, { recursive: true });
  const config = join(state, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${join(rootDir, 'var/lib/containerd')}"`,
      `state = "${state}/run"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${sock}"`,
      '[ttrpc]',
      `  address = "${sock}.ttrpc"`,
      '',
    ].join('\n'),
  );
  const daemon = spawn('containerd', ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  daemon.stderr.on('data', (d) => {
    log = (log + d).slice(-4000);
  });
  try {
    for (let i = 0; !existsSync(sock); i++) {
      if (i > 100 || daemon.exitCode !== null) throw new Error(`containerd for the image preload did not start:\n${log}`);
      await sleep(100);
    }
    const saved = join(state, 'images.tar');
    docker(['save', '--output', saved, ...images], { quiet: true });
    run('ctr', ['--address', sock, '--namespace', 'k8s.io', 'images', 'import', '--no-unpack', '--all-platforms', '--digests', saved]);
    rmSync(saved);
  } finally {
    daemon.kill('SIGTERM');
    for (let i = 0; i < 100 && daemon.exitCode === null; i++) await sleep(100);
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
    rmSync(state, { recursive: true, force: true });
  }
}

/** kind's node-image base files (entrypoint, systemd units, kubelet drop-ins), from the pinned kind module. */
export function kindBaseFiles(): string {
  const dir = run('go', ['list', '-m', '-f', '{{.Dir}}', 'sigs.k8s.io/kind'], { cwd: kindDir, env: goEnv(), quiet: true }).trim();
  return join(dir, 'images', 'base', 'files');
}

/** Copies a tree and makes its files writable (the Go module cache is read-only). */
export function copyTree(from: string, to: string): void {
  cpSync(from, to, { recursive: true });
  for (const f of files(from, /./)) {
    const target = join(to, relative(from, f));
    chmodSync(target, statSync(f).mode | 0o200);
  }
}
