// Kubernetes pod semantics the local backend needs, as pure functions over the rendered manifests:
// env resolution (value, fieldRef, secretKeyRef, configMapKeyRef, `$(VAR)` expansion), volumes materialised
// as per-pod directories (bind-mounted at their mountPaths in the container's own mount namespace), and the argv
// that runs a container's command that way, as postgres.
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { K8sObject } from '../helm.ts';
import { asPostgres } from '../proc.ts';

export type PodIdentity = { name: string; namespace: string; ip: string; labels: Record<string, string> };
/** mountPath -> host directory (or file, for subPath mounts) */
export type MountMap = { mountPath: string; hostPath: string }[];

export class ManifestError extends Error {}

function findObject(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new ManifestError(`${kind}/${name} is referenced by a pod but not rendered`);
  return o;
}

/** Decoded data of a rendered Secret (data base64, stringData plain) or ConfigMap. */
export function objectData(objects: K8sObject[], kind: 'Secret' | 'ConfigMap', name: string): Record<string, Buffer> {
  const o = findObject(objects, kind, name);
  const out: Record<string, Buffer> = {};
  if (kind === 'Secret') {
    for (const [k, v] of Object.entries<string>(o.data ?? {})) out[k] = Buffer.from(v, 'base64');
    for (const [k, v] of Object.entries<string>(o.stringData ?? {})) out[k] = Buffer.from(v);
  } else {
    for (const [k, v] of Object.entries<string>(o.data ?? {})) out[k] = Buffer.from(v);
    for (const [k, v] of Object.entries<string>(o.binaryData ?? {})) out[k] = Buffer.from(v, 'base64');
  }
  return out;
}

/** Kubernetes `$(VAR)` expansion: `$$` escapes, unknown references stay as written. */
export function expand(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name) => {
    if (m === '$$') return '$';
    return Object.hasOwn(vars, name) ? vars[name]! : m;
  });
}

function fieldRef(path: string, pod: PodIdentity): string {
  switch (path) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    case 'status.podIP':
      return pod.ip;
    case 'status.podIPs':
      return pod.ip;
    case 'spec.nodeName':
      return 'localhost';
    case 'status.hostIP':
      return pod.ip;
    case 'spec.serviceAccountName':
      return 'default';
  }
  const label = /^metadata\.labels\['(.+)'\]$/.exec(path);
  if (label) return pod.labels[label[1]!] ?? '';
  throw new ManifestError(`fieldRef ${path} is not supported by the local backend`);
}

/** The environment a container sees, in the order Kubernetes builds it (envFrom, then env with expansion). */
export function containerEnv(container: any, pod: PodIdentity, objects: K8sObject[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    const data = objectData(objects, from.secretRef ? 'Secret' : 'ConfigMap', ref.name);
    for (const [k, v] of Object.entries(data)) env[(from.prefix ?? '') + k] = v.toString();
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = expand(String(e.value), env);
    else if (e.valueFrom?.fieldRef) env[e.name] = fieldRef(e.valueFrom.fieldRef.fieldPath, pod);
    else if (e.valueFrom?.secretKeyRef || e.valueFrom?.configMapKeyRef) {
      const ref = e.valueFrom.secretKeyRef ?? e.valueFrom.configMapKeyRef;
      const kind = e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap';
      let data: Record<string, Buffer>;
      try {
        data = objectData(objects, kind, ref.name);
      } catch (err) {
        if (ref.optional) continue;
        throw err;
      }
      const v = data[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        throw new ManifestError(`env ${e.name}: ${kind} ${ref.name} has no key ${ref.key}`);
      }
      env[e.name] = v.toString();
    } else if (e.valueFrom?.resourceFieldRef) env[e.name] = '0';
    else env[e.name] = '';
  }
  return env;
}

/**
 * Materialises the pod's volumes under `podDir` and returns where each of the container's mountPaths lives.
 * ConfigMap / Secret volumes become files with their (default)Mode, emptyDirs empty directories, PVCs (the
 * StatefulSet's volumeClaimTemplates) a persistent `pvc-<name>` directory that survives a pod restart.
 */
export function materialiseVolumes(podSpec: any, container: any, podDir: string, objects: K8sObject[], owner: { uid: number; gid: number }): MountMap {
  const mounts: MountMap = [];
  const volumes = new Map<string, any>((podSpec.volumes ?? []).map((v: any) => [v.name, v]));
  for (const m of container.volumeMounts ?? []) {
    const vol = volumes.get(m.name);
    let dir: string;
    if (!vol) {
      // Not in spec.volumes: a volumeClaimTemplate of the StatefulSet.
      dir = join(podDir, `pvc-${m.name}`);
      mkdirSync(dir, { recursive: true });
      chownSync(dir, owner.uid, owner.gid);
      chmodSync(dir, 0o750);
    } else if (vol.emptyDir) {
      dir = join(podDir, 'volumes', m.name);
      mkdirSync(dir, { recursive: true });
      chownSync(dir, owner.uid, owner.gid);
      chmodSync(dir, 0o1777);
    } else if (vol.configMap || vol.secret || vol.projected) {
      dir = join(podDir, 'volumes', m.name);
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o755);
      // A projected volume is several ConfigMap/Secret sources in one directory, under one defaultMode.
      const sources = vol.projected
        ? (vol.projected.sources ?? [])
            .filter((x: any) => x.secret || x.configMap)
            .map((x: any) => ({ kind: x.secret ? 'Secret' : 'ConfigMap', src: x.secret ?? x.configMap, mode: vol.projected.defaultMode }))
        : [{ kind: vol.secret ? 'Secret' : 'ConfigMap', src: vol.secret ?? vol.configMap, mode: (vol.secret ?? vol.configMap).defaultMode }];
      for (const { kind, src, mode } of sources as { kind: 'Secret' | 'ConfigMap'; src: any; mode?: number }[]) {
        const name = src.secretName ?? src.name;
        let data: Record<string, Buffer> = {};
        try {
          data = objectData(objects, kind, name);
        } catch (err) {
          if (!src.optional) throw err;
        }
        const items: { key: string; path: string; mode?: number }[] = src.items ?? Object.keys(data).map((key) => ({ key, path: key }));
        for (const item of items) {
          const content = data[item.key];
          if (content === undefined) throw new ManifestError(`volume ${m.name}: ${kind} ${name} has no key ${item.key}`);
          const file = join(dir, item.path);
          mkdirSync(dirname(file), { recursive: true });
          writeFileSync(file, content);
          // Owned by root, group fsGroup (Kubernetes' fsGroup semantics): mode 0640 keys are accepted by PostgreSQL.
          chownSync(file, 0, owner.gid);
          chmodSync(file, item.mode ?? mode ?? 0o644);
        }
      }
    } else if (vol.persistentVolumeClaim) {
      dir = join(podDir, `pvc-${vol.persistentVolumeClaim.claimName}`);
      mkdirSync(dir, { recursive: true });
      chownSync(dir, owner.uid, owner.gid);
    } else {
      throw new ManifestError(`volume ${m.name}: only configMap, secret, projected, emptyDir and PVC volumes run locally`);
    }
    mounts.push({ mountPath: m.mountPath, hostPath: m.subPath ? join(dir, m.subPath) : dir });
  }
  return mounts;
}

/** Does a Service/NetworkPolicy selector match these labels (ignoring the keys given)? */
export function selectorMatches(selector: Record<string, string>, labels: Record<string, string>, ignore: string[] = []): boolean {
  return Object.entries(selector).every(([k, v]) => ignore.includes(k) || labels[k] === v);
}

/** Resolves a container port by name or number. */
export function resolvePort(target: string | number, containers: any[]): number {
  if (typeof target === 'number' || /^\d+$/.test(String(target))) return Number(target);
  for (const c of containers) for (const p of c.ports ?? []) if (p.name === target) return p.containerPort;
  throw new ManifestError(`targetPort ${target} is not a named port of the selected pods`);
}

/** Local binaries standing in for the entrypoints of images whose containers the chart renders without a command. */
const ENTRYPOINTS: [RegExp, string[]][] = [
  [/\/postgres-exporter(:|@|$)/, ['/usr/bin/prometheus-postgres-exporter']],
  [/\/pgbouncer-exporter(:|@|$)/, ['/usr/bin/prometheus-pgbouncer-exporter']],
];

export function imageEntrypoint(image: string | undefined): string[] | undefined {
  return ENTRYPOINTS.find(([re]) => re.test(image ?? ''))?.[1];
}

/**
 * argv run as postgres, after bind-mounting the volumes (parents first) in a private mount namespace; with
 * `pidns`, as PID 1 of a new PID namespace (unshare forks it; its parent only waits).
 */
export function wrap(argv: string[], mounts: MountMap, pidns = false): string[] {
  if (!mounts.length && !pidns) return asPostgres(argv);
  const sorted = [...mounts].sort((a, b) => a.mountPath.length - b.mountPath.length);
  const script =
    'set -e; while [ "$1" != -- ]; do if [ -d "$1" ]; then mkdir -p "$2"; else mkdir -p "$(dirname "$2")"; [ -e "$2" ] || : > "$2"; fi; mount --bind "$1" "$2"; shift 2; done; shift; exec "$@"';
  const pid = pidns ? ['--pid', '--fork', '--kill-child', '--mount-proc'] : [];
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    ...pid,
    '--',
    '/bin/sh',
    '-c',
    script,
    'pod',
    ...sorted.flatMap((m) => [m.hostPath, m.mountPath]),
    '--',
    ...asPostgres(argv),
  ];
}
