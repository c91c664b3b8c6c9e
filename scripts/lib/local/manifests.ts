// From the chart to pods: helm template with what Kubernetes would be told on top of the user's values (etcd3 as
// the DCS, the local S3 store), the Secrets `lookup` would keep, and one planned pod per replica.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { render, type K8sObject } from '../helm.ts';
import { chartDir } from '../tools.ts';
import { S3RVER } from '../s3rver.ts';
import { planNet } from './net.ts';
import type { LocalNode } from './node.ts';
import type { SetValues } from '../../../schema/values-paths.ts';

export const ETCD_SERVICE = 'etcd';
export const S3_SERVICE = 's3rver';
const S3_SECRET = 'pgfleet-local-s3';
const CIPHER_SECRET = 'pgfleet-local-cipher';
/** Secret data kept across renders (and runs, when persistent): what `lookup` gives the chart on a real cluster. */
export const SECRETS_FILE = 'secrets.json';

type Overrides = SetValues;

/** What Kubernetes would be told on top of the user's values: etcd3 as the DCS, the local S3 store for backups. */
function overrides(node: LocalNode, extra: Overrides): Overrides {
  const set: Overrides = {
    ...(node.opts.set ?? {}),
    'patroni.dcs.type': 'etcd3',
    'patroni.dcs.etcd3.hosts': `{${ETCD_SERVICE}:2379}`,
    'patroni.dcs.etcd3.protocol': 'http',
  };
  const schema = JSON.parse(readFileSync(join(node.opts.chart ?? chartDir, 'values.schema.json'), 'utf8'));
  if (schema.properties?.backups?.properties?.s3) {
    // The repository is the local s3rver (TLS, self-signed, path-style); its keys and the cipher passphrase live
    // in Secrets the user would have created (synthesised below, never in values).
    Object.assign(set, {
      'backups.s3.endpoint': S3_SERVICE,
      'backups.s3.port': S3RVER.port,
      'backups.s3.bucket': 'pgfleet',
      'backups.s3.region': 'us-east-1',
      'backups.s3.uriStyle': 'path',
      'backups.s3.verifyTls': false,
      'backups.s3.keyType': 'shared',
      'backups.s3.existingSecret': S3_SECRET,
      'backups.encryption.existingSecret': CIPHER_SECRET,
    });
  }
  return { ...set, ...extra };
}

export function renderManifests(node: LocalNode, extra: Overrides = {}): K8sObject[] {
  node.log(
    `rendering the chart (helm template, etcd3 DCS${
      Object.keys(extra).length
        ? `, ${Object.entries(extra)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`
        : ''
    })`,
  );
  const r = render({
    values: node.opts.values,
    set: overrides(node, extra),
    release: node.opts.release ?? 'db',
    namespace: node.namespace,
    chart: node.opts.chart,
  });
  // Kubernetes reads manifests as YAML 1.1 (defaultMode: 0640 is octal there, decimal 640 in YAML 1.2).
  const objects = parseAllDocuments(r.text, { version: '1.1' })
    .map((d) => d.toJS())
    .filter(Boolean) as K8sObject[];
  const secret = (name: string, data: Record<string, string>): K8sObject => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  });
  if (objects.some((o) => JSON.stringify(o).includes(S3_SECRET)))
    objects.push(secret(S3_SECRET, { 'access-key-id': S3RVER.key, 'secret-access-key': S3RVER.key }));
  if (objects.some((o) => JSON.stringify(o).includes(CIPHER_SECRET)))
    objects.push(secret(CIPHER_SECRET, { 'cipher-pass': randomBytes(24).toString('base64url') }));
  // helm upgrade semantics: Secrets the chart generates with `lookup` (credentials, the CA) keep their data, within
  // a run and, for a persistent cluster, across runs.
  const file = join(node.dir, SECRETS_FILE);
  const kept: Record<string, Record<string, string>> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  // (Secrets rendered as stringData are templates of other values, rendered afresh like any manifest.)
  for (const o of objects.filter((x) => x.kind === 'Secret' && x.data && !x.stringData)) {
    const before = kept[o.metadata.name];
    if (before) o.data = before;
    kept[o.metadata.name] = o.data;
  }
  writeFileSync(file, JSON.stringify(kept), { mode: 0o600 });
  writeFileSync(join(node.dir, 'manifests.yaml'), objects.map((o) => JSON.stringify(o)).join('\n---\n'), { mode: 0o600 });
  return objects;
}

/** Renders the chart into node.objects and plans the network and one pod per StatefulSet or Deployment replica. */
export function planPods(node: LocalNode): void {
  node.objects = renderManifests(node);
  const stsByShardLabel = new Map<string, string>();
  for (const sts of node.objects.filter((o) => o.kind === 'StatefulSet')) {
    const label = sts.spec.template.metadata?.labels?.['pgfleet.io/shard'];
    if (label !== undefined) stsByShardLabel.set(label, sts.metadata.name);
  }
  let index = 0;
  // The subnet follows the name, so differently named clusters can run side by side.
  const octet = node.opts.octet ?? 30 + ([...node.name].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) % 9973, 7) % 60);
  node.net = planNet(node.name, octet);
  const ipOf = (i: number) => `${node.net.subnet}.${20 + i}`;
  for (const o of node.objects) {
    if (o.kind !== 'StatefulSet' && o.kind !== 'Deployment') continue;
    const replicas = o.spec.replicas ?? 1;
    for (let i = 0; i < replicas; i++) {
      const name = `${o.metadata.name}-${i}`;
      const labels = { ...(o.spec.template.metadata?.labels ?? {}) };
      if (o.kind === 'StatefulSet') labels['statefulset.kubernetes.io/pod-name'] = name;
      const shardLabel = labels['pgfleet.io/shard'];
      node.pods.push({
        name,
        kind: o.kind,
        owner: o.metadata.name,
        labels,
        templateLabels: { ...labels },
        spec: o.spec.template.spec,
        shard: o.kind === 'StatefulSet' ? o.metadata.name : shardLabel !== undefined ? stsByShardLabel.get(shardLabel) : undefined,
        ns: `${node.name}-${name}`,
        veth: `${node.name}v${index}`.slice(0, 13),
        ip: ipOf(index),
        dir: join(node.dir, 'pods', name),
        procs: new Map(),
        down: false,
        generation: 0,
        readiness: new Map(),
        terminationGraceS: o.spec.template.spec.terminationGracePeriodSeconds ?? 30,
      });
      index++;
    }
  }
  if (!node.pods.some((p) => p.kind === 'StatefulSet')) throw new Error('the rendered chart has no StatefulSet');
}

/** Whether the rendered chart archives to S3 (pgBackRest configuration pointing at the local store). */
export function backupsRendered(objects: K8sObject[]): boolean {
  return objects.some((o) => o.kind === 'ConfigMap' && Object.values<string>(o.data ?? {}).some((v) => v.includes(`repo1-s3-endpoint=${S3_SERVICE}`)));
}

/** Patroni's key prefix in the DCS for a shard's rendered configuration (its `namespace`, `/service/` by default). */
export function dcsPrefix(objects: K8sObject[], shard: string): string {
  const cfg = parseYaml(objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === `${shard}-patroni`)?.data?.['patroni.yml'] ?? '{}');
  return String(cfg?.namespace ?? '/service/').replace(/\/?$/, '/');
}

/**
 * The Job a shard's backup CronJob of `type` runs (its jobTemplate). When only another type has a schedule, that
 * CronJob's Job with the requested type (its last argument).
 */
export function backupJob(objects: K8sObject[], shard: string, type: 'full' | 'diff' | 'incr'): { cronJob: string; spec: any; labels: Record<string, string> } {
  const idx = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === shard)?.spec.template.metadata?.labels?.['pgfleet.io/shard'];
  const typeOf = (o: K8sObject): string | undefined => o.metadata.labels?.['pgfleet.io/backup-type'];
  const cjs = objects.filter(
    (o) =>
      o.kind === 'CronJob' && o.metadata.labels?.['app.kubernetes.io/component'] === 'backup' && o.metadata.labels?.['pgfleet.io/shard'] === idx && typeOf(o),
  );
  const cj = cjs.find((o) => typeOf(o) === type) ?? cjs[0];
  if (!cj) throw new Error(`no backup CronJob rendered for ${shard}`);
  const template = cj.spec.jobTemplate.spec.template;
  const spec = typeOf(cj) === type ? template.spec : JSON.parse(JSON.stringify(template.spec).replace(`"${typeOf(cj)}"]`, `"${type}"]`));
  return { cronJob: cj.metadata.name, spec, labels: template.metadata?.labels ?? {} };
}
