// What a Kubernetes cluster brings along and the chart expects: etcd as the DCS and, with backups, an S3 endpoint
// (s3rver over TLS). Each runs in a namespace of its own, kept running like a container.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { S3RVER, s3rverScript } from '../s3rver.ts';
import { backupsRendered, S3_SERVICE } from './manifests.ts';
import type { Kubelet } from './kubelet.ts';
import type { LocalNode } from './node.ts';
import { sh, waitFor } from '../proc.ts';

export async function startEtcd(node: LocalNode, kubelet: Kubelet): Promise<void> {
  const dir = join(node.dir, 'etcd');
  mkdirSync(dir, { recursive: true });
  sh('chown', ['postgres:postgres', dir]);
  const ip = node.etcdIp;
  node.log(`etcd at ${ip}:2379`);
  kubelet.keepRunning(() =>
    kubelet.spawnIn(
      node.etcdNs,
      [
        'etcd',
        '--name',
        'etcd',
        '--data-dir',
        join(dir, 'data'),
        '--listen-client-urls',
        'http://0.0.0.0:2379',
        '--advertise-client-urls',
        `http://${ip}:2379`,
        '--listen-peer-urls',
        `http://${ip}:2380`,
        '--initial-advertise-peer-urls',
        `http://${ip}:2380`,
        '--initial-cluster',
        `etcd=http://${ip}:2380`,
        '--initial-cluster-state',
        'new',
      ],
      {},
      join(dir, 'etcd.log'),
      'etcd',
    ),
  );
  await waitFor('etcd to answer', 30_000, async () => (await fetch(`http://${ip}:2379/health`, { signal: AbortSignal.timeout(1000) })).ok);
}

/** Deletes every DCS key under `prefix` (what deleting a shard's Kubernetes DCS objects does); resolves with how many. */
export function deleteDcsKeys(node: LocalNode, prefix: string): number {
  const r = sh('ip', ['netns', 'exec', node.etcdNs, 'etcdctl', '--endpoints', `http://${node.etcdIp}:2379`, 'del', '--prefix', prefix]);
  return Number(r.stdout.trim());
}

/** s3rver over TLS (self-signed) as the S3 endpoint, in its own namespace, with the bucket the chart names. */
export async function startS3(node: LocalNode, kubelet: Kubelet): Promise<void> {
  if (!backupsRendered(node.objects)) return;
  const dir = join(node.dir, 's3');
  const conf = node.objects
    .filter((o) => o.kind === 'ConfigMap')
    .flatMap((o) => Object.values<string>(o.data ?? {}))
    .join('\n');
  const bucket = /repo1-s3-bucket=(\S+)/.exec(conf)?.[1] ?? 'pgfleet';
  const script = s3rverScript(dir, { bucket, address: '0.0.0.0', names: [S3_SERVICE, node.s3Ip] });
  sh('chown', ['-R', 'postgres:postgres', dir]);
  node.log(`S3 (s3rver, TLS) at ${node.s3Ip}:${S3RVER.port}, bucket ${bucket}`);
  kubelet.keepRunning(() => kubelet.spawnIn(`${node.name}-s3`, [process.execPath, script], {}, join(dir, 's3rver.log'), 's3rver', dir));
  await waitFor('s3rver to listen', 30_000, async () => readFileSync(join(dir, 's3rver.log'), 'utf8').includes(S3RVER.ready));
}
