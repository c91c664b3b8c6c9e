// scripts/lib/contract.ts against a render: every name and path the harness relies on exists in the objects, and
// every program under files/scripts is embedded as it is (no templating).
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  appCredentials,
  chartEnv,
  DB_CONTAINER,
  dbContainer,
  ENV,
  PATRONI_CONFIG,
  SCRIPTS_DIR,
  SWITCHOVER_SCRIPT,
  TLS_CA_FILE,
} from '../../scripts/lib/contract.ts';
import { find, render } from '../../scripts/lib/helm.ts';
import { chartDir } from '../../scripts/lib/tools.ts';

const test = suite('the chart-to-harness contract');
const withTls = render({ set: { shards: 2 }, args: ['--is-upgrade'] }).objects;
const withoutTls = render({ set: { 'tls.enabled': false } }).objects;

/** The ConfigMap behind the volume mounted at `dir` in the database container, and the mount. */
function mounted(objects: typeof withTls, dir: string) {
  const sts = find(objects, 'StatefulSet')[0]!;
  const mount = dbContainer(objects).volumeMounts.find((m: any) => m.mountPath === dir);
  assert.ok(mount, `nothing mounted at ${dir}`);
  const volume = sts.spec.template.spec.volumes.find((v: any) => v.name === mount.name);
  return volume.configMap ? find(objects, 'ConfigMap', volume.configMap.name)[0]! : volume;
}

test('the database container is named as the contract says, and its environment yields the app credentials', () => {
  const c = dbContainer(withTls);
  assert.is(c.name, DB_CONTAINER);
  const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? 'from-secret']));
  assert.equal(appCredentials(env), { user: 'app', database: 'app', password: 'from-secret' });
  assert.equal(c.env.find((e: any) => e.name === ENV.appPassword).valueFrom.secretKeyRef, { name: 'db-pgfleet-auth', key: 'app-password' });
});

test("the CA path is set only with TLS, and is the mounted TLS Secret's ca.crt", () => {
  const ca = chartEnv(dbContainer(withTls))[ENV.tlsCa]!;
  assert.is(ca, TLS_CA_FILE);
  const secret = mounted(withTls, posix.dirname(ca));
  assert.is(secret.secret.secretName, 'db-pgfleet-tls');
  assert.is(posix.basename(ca), 'ca.crt');
  assert.is(chartEnv(dbContainer(withoutTls))[ENV.tlsCa], undefined);
});

test("the scripts directory holds the switchover script; Patroni's configuration is where patronictl is pointed", () => {
  const scripts = mounted(withTls, SCRIPTS_DIR);
  assert.ok(scripts.data[posix.basename(SWITCHOVER_SCRIPT)]?.startsWith('#!/usr/bin/env python3'));
  const patroni = mounted(withTls, posix.dirname(PATRONI_CONFIG));
  assert.ok(patroni.data[posix.basename(PATRONI_CONFIG)].includes('scope: db-pgfleet-shard-0'));
});

test('every program under files/scripts is embedded in a ConfigMap byte for byte', () => {
  const etcd3 = render({ set: { 'patroni.dcs.type': 'etcd3', 'patroni.dcs.etcd3.hosts[0]': 'etcd:2379' } }).objects;
  const pgdog = render({ set: { 'pooler.type': 'pgdog' } }).objects;
  const backups = render({ values: [join(chartDir, 'ci', '20-backups-values.yaml')] }).objects;
  const embedded = [...withTls, ...etcd3, ...pgdog, ...backups].filter((o) => o.kind === 'ConfigMap').flatMap((o) => Object.values<string>(o.data ?? {}));
  const dir = join(chartDir, 'files', 'scripts');
  for (const f of readdirSync(dir)) assert.ok(embedded.includes(readFileSync(join(dir, f), 'utf8')), `${f} is not embedded as it is`);
});

test("what Patroni runs (post_bootstrap, before_stop, callbacks, and the scripts they start) reads no PATRONI_* variable: Patroni removes those from the environment it passes on; the etcd3 callback's pod name and namespace come from the chart", () => {
  for (const objects of [
    withTls,
    render({ set: { 'patroni.dcs.type': 'etcd3', 'patroni.dcs.etcd3.hosts[0]': 'etcd:2379' } }).objects,
    render({ values: [join(chartDir, 'ci', '20-backups-values.yaml')] }).objects,
  ]) {
    const scripts: Record<string, string> = mounted(objects, SCRIPTS_DIR).data;
    const patroni = mounted(objects, posix.dirname(PATRONI_CONFIG)).data[posix.basename(PATRONI_CONFIG)] as string;
    const started = [...patroni.matchAll(/(?:post_bootstrap|before_stop|on_start|on_restart|on_role_change): (\S+)/g)].map((m) => posix.basename(m[1]!));
    assert.ok(started.length, 'Patroni runs none of the scripts');
    const seen = new Set<string>();
    for (const name of started) {
      if (seen.has(name)) continue;
      seen.add(name);
      const text = scripts[name];
      assert.ok(text, `${name} is not in the scripts ConfigMap`);
      const code = text
        .split('\n')
        .filter((l) => !/^\s*#/.test(l))
        .join('\n');
      assert.not.match(code, /PATRONI_[A-Z]/, `${name} reads a PATRONI_* variable, which Patroni's children never see`);
      for (const other of Object.keys(scripts)) if (other !== name && code.includes(other)) started.push(other);
    }
    if (seen.has('label-role.py')) {
      const env = Object.fromEntries(dbContainer(objects).env.map((e: any) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
      assert.is(env.PGFLEET_POD_NAME, 'metadata.name');
      assert.is(env.PGFLEET_POD_NAMESPACE, 'metadata.namespace');
    }
  }
});

test.run();
