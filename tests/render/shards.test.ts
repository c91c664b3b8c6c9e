// Shards x replicas: StatefulSets, Services, PDBs, Patroni scopes, probes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { find, one, render } from '../../scripts/lib/helm.ts';
import { patroniConfig } from '../lib/patroni.ts';

const topology = suite('topology: shards=3 replicas=2');
const { objects } = render({ set: { shards: 3, replicas: 2 } });
const shards = [0, 1, 2].map((i) => `db-pgfleet-shard-${i}`);

topology('one StatefulSet per shard with replicas + 1 pods', () => {
  const sts = find(objects, 'StatefulSet');
  assert.equal(sts.map((s) => s.metadata.name).sort(), shards);
  for (const s of sts) assert.is(s.spec.replicas, 3);
});
topology('StatefulSet selectors are distinct per shard and match their pod labels', () => {
  const selectors = new Set<string>();
  for (const s of find(objects, 'StatefulSet')) {
    const sel = s.spec.selector.matchLabels;
    selectors.add(JSON.stringify(sel));
    for (const [k, v] of Object.entries(sel)) assert.is(s.spec.template.metadata.labels[k], v, `${s.metadata.name}: pod label ${k}`);
    assert.equal(Object.keys(sel).sort(), ['app.kubernetes.io/component', 'app.kubernetes.io/instance', 'app.kubernetes.io/name', 'pgfleet.io/shard']);
  }
  assert.is(selectors.size, 3);
});
topology('per shard: -primary and -replicas select the Patroni role label, headless selects the shard', () => {
  for (const [i, shard] of shards.entries()) {
    const primary = one(objects, 'Service', `${shard}-primary`);
    const replicas = one(objects, 'Service', `${shard}-replicas`);
    const headless = one(objects, 'Service', `${shard}-headless`);
    assert.is(primary.spec.selector.role, 'primary');
    assert.is(replicas.spec.selector.role, 'replica');
    assert.is(primary.spec.selector['cluster-name'], shard);
    assert.is(replicas.spec.selector['pgfleet.io/shard'], String(i));
    assert.is(headless.spec.clusterIP, 'None');
    assert.is(headless.spec.publishNotReadyAddresses, true);
    assert.is(headless.spec.selector.role, undefined);
    assert.is(one(objects, 'StatefulSet', shard).spec.serviceName, `${shard}-headless`);
    assert.is(one(objects, 'StatefulSet', shard).spec.template.metadata.labels['cluster-name'], shard);
  }
});
topology('one PodDisruptionBudget per shard, maxUnavailable 1, selecting that shard', () => {
  const pdbs = find(objects, 'PodDisruptionBudget').filter((p) => p.metadata.labels?.['app.kubernetes.io/component'] === 'database');
  assert.is(pdbs.length, 3);
  for (const [i, shard] of shards.entries()) {
    const pdb = one(objects, 'PodDisruptionBudget', shard);
    assert.is(pdb.spec.maxUnavailable, 1);
    assert.is(pdb.spec.selector.matchLabels['pgfleet.io/shard'], String(i));
  }
});
topology('each shard is its own Patroni scope', () => {
  for (const shard of shards) assert.is(patroniConfig(objects, shard).scope, shard);
});
topology(
  'pods probe Patroni: liveness /liveness, readiness /readiness with a lag bound far above maximum_lag_on_failover (a write burst must not empty -replicas)',
  () => {
    const c = one(objects, 'StatefulSet', shards[0]!).spec.template.spec.containers.find((x: any) => x.name === 'postgres');
    assert.is(c.livenessProbe.httpGet.path, '/liveness');
    assert.is(c.readinessProbe.httpGet.path, '/readiness?lag=268435456');
    const set = render({ set: { 'patroni.readinessMaxLag': 2147483648 } }).objects;
    const c2 = one(set, 'StatefulSet', shards[0]!).spec.template.spec.containers.find((x: any) => x.name === 'postgres');
    assert.is(c2.readinessProbe.httpGet.path, '/readiness?lag=2147483648');
    assert.is(c.livenessProbe.httpGet.port, 'patroni');
    assert.ok(c.ports.some((p: any) => p.name === 'patroni' && p.containerPort === 8008));
  },
);
topology('pod-specific Patroni settings come from the downward API', () => {
  const env = one(objects, 'StatefulSet', shards[1]!).spec.template.spec.containers[0].env;
  const byName = Object.fromEntries(env.map((e: any) => [e.name, e]));
  assert.is(byName.PATRONI_NAME.valueFrom.fieldRef.fieldPath, 'metadata.name');
  assert.is(byName.POD_IP.valueFrom.fieldRef.fieldPath, 'status.podIP');
  assert.is(byName.PATRONI_POSTGRESQL_CONNECT_ADDRESS.value, '$(POD_IP):5432');
  assert.is(byName.PATRONI_SUPERUSER_PASSWORD.valueFrom.secretKeyRef.key, 'superuser-password');
});
topology.run();

const scale = suite('scaling edges');
scale('replicas: 0 renders single-pod shards', () => {
  const { objects } = render({ set: { replicas: 0 } });
  assert.is(one(objects, 'StatefulSet', 'db-pgfleet-shard-0').spec.replicas, 1);
});
scale('64 shards render 64 StatefulSets with unique names', () => {
  const { objects } = render({ set: { shards: 64 } });
  const names = find(objects, 'StatefulSet').map((s) => s.metadata.name);
  assert.is(new Set(names).size, 64);
});
scale.run();
