// Validates rendered objects against Kubernetes (and cert-manager) schemas from kubernetes-models.
import type { K8sObject } from '../../scripts/lib/helm.ts';

const packages: Record<string, string> = {
  'cert-manager.io': '@kubernetes-models/cert-manager/cert-manager.io',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator/monitoring.coreos.com',
};

type Model = { validate(): void };
const cache = new Map<string, new (o: unknown) => Model>();

async function modelFor(apiVersion: string, kind: string) {
  const key = `${apiVersion}/${kind}`;
  if (!cache.has(key)) {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    const base = packages[group!] ?? `kubernetes-models/${group ? `${group}/` : ''}`.replace(/\/$/, '');
    const path = packages[group!] ? `${base}/${version}/${kind}` : `${base}${group ? '/' : '/'}${version}/${kind}`;
    let mod: Record<string, new (o: unknown) => Model>;
    try {
      mod = await import(path);
    } catch {
      throw new Error(`no schema known for ${apiVersion} ${kind} (looked for ${path})`);
    }
    cache.set(key, mod[kind]!);
  }
  return cache.get(key)!;
}

/** Throws with the object's kind/name and the schema error when the object is invalid. */
export async function validateObject(obj: K8sObject): Promise<void> {
  const Model = await modelFor(obj.apiVersion, obj.kind);
  try {
    new Model(obj).validate();
  } catch (e) {
    throw new Error(`${obj.kind}/${obj.metadata?.name} is not a valid ${obj.apiVersion} ${obj.kind}: ${(e as Error).message}`);
  }
}
