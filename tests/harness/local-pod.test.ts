// Kubernetes pod semantics of the local backend, on the rendered chart: env resolution and `$(VAR)` expansion
// (volumes, which need root to own files as Kubernetes does, are in tests/runtime/local-volumes.test.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { render, type K8sObject } from '../../scripts/lib/helm.ts';
import { containerEnv, expand, objectData } from '../../scripts/lib/local/pod.ts';

const text = render({ set: { 'patroni.dcs.type': 'etcd3', 'patroni.dcs.etcd3.hosts': '{etcd:2379}' }, namespace: 'ns1' }).text;
const objects = parseAllDocuments(text, { version: '1.1' })
  .map((d) => d.toJS())
  .filter(Boolean) as K8sObject[];
const sts = objects.find((o) => o.kind === 'StatefulSet')!;
const container = sts.spec.template.spec.containers[0];
const pod = { name: `${sts.metadata.name}-0`, namespace: 'ns1', ip: '10.1.2.3', labels: {} };

const env = suite('local backend: pod environment');
env('fieldRef, secretKeyRef and $(VAR) expansion follow Kubernetes', () => {
  const e = containerEnv(container, pod, objects);
  assert.is(e.POD_IP, '10.1.2.3');
  assert.is(e.PATRONI_NAME, pod.name);
  assert.is(e.PATRONI_RESTAPI_CONNECT_ADDRESS, '10.1.2.3:8008');
  assert.is(e.PATRONI_POSTGRESQL_CONNECT_ADDRESS, '10.1.2.3:5432');
  const secretName = container.env.find((x: any) => x.name === 'PATRONI_SUPERUSER_PASSWORD').valueFrom.secretKeyRef.name;
  assert.is(e.PATRONI_SUPERUSER_PASSWORD, objectData(objects, 'Secret', secretName)['superuser-password']!.toString());
  assert.is(e.PATRONI_SUPERUSER_PASSWORD!.length, 32);
});
env('expansion: $$ escapes, unknown references stay', () => {
  assert.is(expand('$(A)-$$(A)-$(B)', { A: 'x' }), 'x-$(A)-$(B)');
});
env.run();
