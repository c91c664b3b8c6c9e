// Reads the rendered patroni.yml of a shard.
import { parse } from 'yaml';
import { one, type K8sObject } from '../../scripts/lib/helm.ts';

export function patroniConfig(objects: K8sObject[], shard: string): Record<string, any> {
  // YAML 1.1, as Patroni (PyYAML) reads it.
  return parse(one(objects, 'ConfigMap', `${shard}-patroni`).data['patroni.yml'], { version: '1.1' });
}
