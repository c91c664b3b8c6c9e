// The local backend's volumes, as Kubernetes makes them: Secret and ConfigMap files owned by root with the pod's
// fsGroup and their defaultMode, emptyDirs and claim directories owned by the pod's user (root: it chowns).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { one, render } from '../../scripts/lib/helm.ts';
import { materialiseVolumes } from '../../scripts/lib/local/pod.ts';

const { objects } = render({ set: { 'patroni.dcs.type': 'etcd3', 'patroni.dcs.etcd3.hosts': '{etcd:2379}' }, namespace: 'ns1' });
const sts = one(objects, 'StatefulSet', 'db-pgfleet-shard-0');
const container = sts.spec.template.spec.containers[0];

const volumes = suite('local backend: volumes and paths');
let dir = '';
volumes.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgf-pod-'));
});
volumes.after(() => rmSync(dir, { recursive: true, force: true }));
volumes('Secret and ConfigMap volumes become files with their defaultMode (YAML 1.1 octal), emptyDirs and PVC dirs', () => {
  const mounts = materialiseVolumes(sts.spec.template.spec, container, dir, objects, { uid: 999, gid: 999 });
  const at = (p: string) => mounts.find((m) => m.mountPath === p)!.hostPath;
  const key = statSync(join(at('/etc/pgfleet/tls'), 'tls.key'));
  assert.equal([key.mode & 0o777, key.uid, key.gid], [0o640, 0, 999], 'a Secret file: its defaultMode, owned by root, group fsGroup');
  assert.equal([statSync(at('/var/lib/postgresql/data')).uid, statSync(at('/tmp')).uid], [999, 999], 'claim and emptyDir directories belong to the pod user');
  assert.is(statSync(join(at('/opt/pgfleet/scripts'), 'post-bootstrap.sh')).mode & 0o777, 0o555);
  assert.match(readFileSync(join(at('/etc/patroni'), 'patroni.yml'), 'utf8'), /data_dir: \/var\/lib\/postgresql\/data\/pgdata/);
  assert.match(at('/var/lib/postgresql/data'), /pvc-data$/);
  assert.ok(statSync(at('/tmp')).isDirectory());
});
volumes.run();
