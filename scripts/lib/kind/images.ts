// The images tier 3 runs, all built on this machine (scripts/lib/kind/build.ts has the steps):
//   - the kind node image, holding in its containerd every image kubeadm and kind start (control plane, etcd,
//     CoreDNS, pause, kube-proxy, the CNI with NetworkPolicy, the storage provisioner and its helper);
//   - the database test image and the images the chart names beside it (pooler, exporter, kubectl), loaded into
//     the cluster by e2e:kind.
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { KIND, PATRONI } from '../versions.ts';
import {
  ROOTFS,
  type Docker,
  buildImage,
  cacheKey,
  copyTree,
  customizeDb,
  hasImage,
  importImage,
  kindBaseFiles,
  kindCache,
  kindDir,
  preloadImages,
  rootfs,
  run,
  step,
} from './build.ts';

const k8s = (name: string) => `registry.k8s.io/${name}:${KIND.kubernetes}`;

export type KindImages = {
  node: string;
  /** The chart's images on kind, as `--set` pairs for helm. */
  chart: { db: string; exporter: string; kubectl: string };
  bin: string;
};

/** Builds (or finds in the engine) every image tier 3 needs. */
export async function buildImages(docker: Docker, bin: string): Promise<KindImages> {
  const binKey = bin.split('bin-').pop()!;
  const baseTar = await rootfs('base', cacheKey([...ROOTFS.base]));
  const base = `pgfleet.local/kind-base:${cacheKey([baseTar])}`;
  if (!hasImage(docker, base)) importImage(docker, base, baseTar, ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);

  const ctx = join(kindCache(), 'work', 'context');
  /** An image of `from` plus binaries in /usr/local/bin (or at the root for `entrypoint`). */
  const image = (tag: string, from: string, binaries: string[], extra = '') => {
    buildImage(
      docker,
      tag,
      [`FROM ${from}`, ...binaries.map((b) => `COPY ${b} /usr/local/bin/${b}`), ...(from === 'scratch' ? ['ENV PATH=/usr/local/bin'] : []), extra].join('\n'),
      ctx,
      binKey,
      () => {
        for (const b of binaries) copyFileSync(join(bin, b), join(ctx, b));
      },
    );
    return tag;
  };
  const tag = (name: string) => `pgfleet.local/${name}:${binKey}`;
  const nodeImages = await step('component images', () => [
    image(k8s('kube-apiserver'), 'scratch', ['kube-apiserver']),
    image(k8s('kube-controller-manager'), 'scratch', ['kube-controller-manager']),
    image(k8s('kube-scheduler'), 'scratch', ['kube-scheduler']),
    image(k8s('kube-proxy'), base, ['kube-proxy']),
    image(`registry.k8s.io/etcd:${KIND.etcd}-0`, 'scratch', ['etcd', 'etcdctl']),
    image(`registry.k8s.io/coredns/coredns:${KIND.coredns}`, 'scratch', ['coredns'], 'ENTRYPOINT ["/usr/local/bin/coredns"]'),
    image(`registry.k8s.io/pause:${KIND.pause}`, 'scratch', ['pause'], 'ENTRYPOINT ["/usr/local/bin/pause"]'),
    image(tag('kind-net'), base, ['pgfleet-net']),
    image(tag('local-path-provisioner'), 'scratch', ['local-path-provisioner']),
    base,
  ]);
  // as registry.k8s.io/kubectl: kubectl is the entry point (the chart's uninstall hook gives arguments only)
  const kubectl = image(tag('kubectl'), base, ['kubectl'], 'ENTRYPOINT ["/usr/local/bin/kubectl"]');

  const nodeTar = await rootfs('node', cacheKey([...ROOTFS.node]));
  const nodeFiles = join(kindDir, 'node');
  // keyed by the preloaded images' IDs: their tags (registry.k8s.io/…) stay when their content changes
  const ids = nodeImages.map((t) => docker(['image', 'inspect', '--format', '{{.Id}}', t], { quiet: true }).trim());
  const node = `pgfleet.local/kind-node:${KIND.kubernetes}-${cacheKey([nodeTar, binKey, ...ids, ...['etc/containerd/config.toml', 'kind/manifests/default-cni.yaml', 'kind/manifests/default-storage.yaml'].map((f) => ({ file: join(nodeFiles, f) }))])}`;
  if (!hasImage(docker, node))
    await step(`node image ${node}`, () =>
      nodeImage(docker, node, bin, nodeTar, nodeImages, { netImage: tag('kind-net'), localPath: tag('local-path-provisioner'), helper: base }),
    );

  const dbTar = await rootfs('db', cacheKey([...ROOTFS.db, PATRONI, customizeDb.toString()]), customizeDb);
  const db = `pgfleet.local/postgres:15-patroni${PATRONI}-${cacheKey([dbTar])}`;
  if (!hasImage(docker, db)) {
    await step(`database test image ${db}`, () =>
      importImage(docker, db, dbTar, [
        'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'ENV PGDATA=/var/lib/postgresql/data/pgdata',
        'ENV HOME=/tmp',
        'USER 999:999',
        'EXPOSE 5432 8008 8432',
        'CMD ["patroni", "/etc/patroni/patroni.yml"]',
      ]),
    );
  }
  // postgres_exporter's image starts the exporter (the chart gives it arguments only)
  const exporter = `${db}-exporter`;
  buildImage(docker, exporter, [`FROM ${db}`, 'USER 65534:65534', 'ENTRYPOINT ["/usr/bin/prometheus-postgres-exporter"]', 'CMD []'].join('\n'), ctx, db);
  // images of earlier versions: the project's own repositories only (a user's engine keeps everything else)
  const current = new Set([...nodeImages, kubectl, node, db, exporter]);
  const stale = docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=pgfleet.local/*'], { quiet: true })
    .split('\n')
    .filter((t) => t && !current.has(t));
  if (stale.length) docker(['image', 'rm', ...stale], { quiet: true });
  return { node, chart: { db, exporter, kubectl }, bin };
}

/** The node: Debian rootfs + kind's base files + pgfleet's containerd config and manifests + binaries + images. */
async function nodeImage(
  docker: Docker,
  tag: string,
  bin: string,
  nodeTar: string,
  images: string[],
  refs: { netImage: string; localPath: string; helper: string },
) {
  const dir = join(kindCache(), 'work', 'node');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    run('tar', ['--numeric-owner', '--xattrs', '-C', dir, '-xf', nodeTar], { quiet: true });
    copyTree(kindBaseFiles(), dir);
    copyTree(join(kindDir, 'node'), dir);
    const edit = (file: string, pairs: [string, string][]) =>
      writeFileSync(
        join(dir, file),
        pairs.reduce((s, [a, b]) => s.replaceAll(a, b), readFileSync(join(dir, file), 'utf8')),
      );
    edit('etc/containerd/config.toml', [['PAUSE_VERSION', KIND.pause]]);
    edit('kind/manifests/default-cni.yaml', [['KIND_NET_IMAGE', refs.netImage]]);
    edit('kind/manifests/default-storage.yaml', [
      ['LOCAL_PATH_IMAGE', refs.localPath],
      ['HELPER_IMAGE', refs.helper],
    ]);
    writeFileSync(join(dir, 'kind/version'), KIND.kubernetes);
    for (const b of ['kubelet', 'kubeadm', 'kubectl']) copyFileSync(join(bin, b), join(dir, 'usr/bin', b));
    for (const b of ['crictl', 'pgfleet-runc']) copyFileSync(join(bin, b), join(dir, 'usr/local/bin', b));
    // kind's containerd unit starts /usr/local/bin/containerd; Debian installs it in /usr/bin
    if (!existsSync(join(dir, 'usr/local/bin/containerd'))) symlinkSync('/usr/bin/containerd', join(dir, 'usr/local/bin/containerd'));
    mkdirSync(join(dir, 'etc/kubernetes/manifests'), { recursive: true });
    run('chmod', ['-R', 'a+rx', join(dir, 'usr/local/bin'), join(dir, 'kind/bin')], { quiet: true });
    run('chroot', [dir, 'systemctl', 'enable', 'kubelet.service', 'containerd.service', 'undo-mount-hacks.service'], { quiet: true });
    run('chroot', [dir, 'systemctl', 'mask', 'systemd-binfmt.service'], { quiet: true });
    await preloadImages(docker, dir, images);
    const tar = join(kindCache(), 'work', 'node.tar');
    run('tar', ['--numeric-owner', '--xattrs', '-C', dir, '-cf', tar, '.'], { quiet: true });
    importImage(docker, tag, tar, ['ENV container=docker', 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]']);
    rmSync(tar);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
