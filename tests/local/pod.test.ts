// Kubernetes pod semantics of the local backend, on the rendered chart: env resolution, `$(VAR)` expansion,
// volumes as files with their modes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { render, type K8sObject } from '../../scripts/lib/helm.ts';
import { containerEnv, expand, materialiseVolumes, objectData } from '../../scripts/lib/local/pod.ts';

const text = render({ set: { 'patroni.dcs.type': 'etcd3', 'patroni.dcs.etcd3.hosts': '{etcd:2379}' }, namespace: 'ns1' }).text;
const objects = parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS()).filter(Boolean) as K8sObject[];
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

const volumes = suite('local backend: volumes and paths');
let dir = '';
volumes.before(() => { dir = mkdtempSync(join(tmpdir(), 'pgf-pod-')); });
volumes.after(() => rmSync(dir, { recursive: true, force: true }));
volumes('Secret and ConfigMap volumes become files with their defaultMode (YAML 1.1 octal), emptyDirs and PVC dirs', () => {
  const mounts = materialiseVolumes(sts.spec.template.spec, container, dir, objects, { uid: process.getuid!(), gid: process.getgid!() });
  const at = (p: string) => mounts.find((m) => m.mountPath === p)!.hostPath;
  assert.is(statSync(join(at('/etc/pgfleet/tls'), 'tls.key')).mode & 0o777, 0o640);
  assert.is(statSync(join(at('/opt/pgfleet/scripts'), 'post-bootstrap.sh')).mode & 0o777, 0o555);
  assert.match(readFileSync(join(at('/etc/patroni'), 'patroni.yml'), 'utf8'), /data_dir: \/var\/lib\/postgresql\/data\/pgdata/);
  assert.match(at('/var/lib/postgresql/data'), /pvc-data$/);
  assert.ok(statSync(at('/tmp')).isDirectory());
});
volumes.run();
