// With the etcd3 DCS nothing in Patroni writes to Kubernetes, so the chart's callback must put the `role` label on
// the pod, or the -primary and -replicas Services never get an endpoint. The rendered scripts run here, as Patroni
// runs them (patroni-callback.sh ACTION ROLE SCOPE), against a stand-in API server over TLS on 127.0.0.1 that
// checks the path, the token and the merge patch.
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { one, render } from '../../scripts/lib/helm.ts';
import { exec } from '../../scripts/lib/proc.ts';
import { serverCertificate } from '../../scripts/lib/local/apiserver.ts';

const etcd3 = render({ values: ['charts/pgfleet/ci/02-etcd3-values.yaml'] }).objects;
const scripts = one(etcd3, 'ConfigMap', 'db-pgfleet-scripts').data;
type Call = { method: string; path: string; auth: string; type: string; body: any };
/** `statuses`: the answers to the next calls, in order (then 200) */
const st: { dir: string; server?: Server; port: number; calls: Call[]; statuses: number[] } = { dir: '', port: 0, calls: [], statuses: [] };

const labels = suite('etcd3: the callback writes the role label the Services select on');
labels.before(async () => {
  st.dir = mkdtempSync(join(tmpdir(), 'pgfleet-label-'));
  const { key, cert } = serverCertificate(st.dir, '127.0.0.1');
  copyFileSync(cert, join(st.dir, 'ca.crt'));
  writeFileSync(join(st.dir, 'token'), 'the-token\n');
  for (const [name, text] of Object.entries<string>(scripts)) {
    writeFileSync(join(st.dir, name), text);
    chmodSync(join(st.dir, name), 0o755);
  }
  st.server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      st.calls.push({
        method: req.method ?? '',
        path: req.url ?? '',
        auth: String(req.headers.authorization),
        type: String(req.headers['content-type']),
        body: body ? JSON.parse(body) : undefined,
      });
      res.writeHead(st.statuses.shift() ?? 200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => st.server!.listen(0, '127.0.0.1', resolve));
  st.port = (st.server!.address() as AddressInfo).port;
});
labels.after(async () => {
  await new Promise((resolve) => st.server?.close(resolve));
  rmSync(st.dir, { recursive: true, force: true });
});

const callback = (args: string[], env: Record<string, string> = {}, script = 'patroni-callback.sh') =>
  exec([join(st.dir, script), ...args], {
    env: {
      PGFLEET_POD_NAME: 'db-pgfleet-shard-1-0',
      PGFLEET_POD_NAMESPACE: 'prod',
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: String(st.port),
      PGFLEET_SERVICEACCOUNT_DIR: st.dir,
      TMPDIR: st.dir,
      ...env,
    },
    timeoutMs: 30_000,
  });

labels("rendered only with etcd3: Patroni runs the callback on start, restart and role change; the Role may patch only the release's database pods", () => {
  const patroni = (objects: any[]) => one(objects, 'ConfigMap', 'db-pgfleet-shard-0-patroni').data['patroni.yml'] as string;
  for (const event of ['on_start', 'on_restart', 'on_role_change']) assert.match(patroni(etcd3), `${event}: /opt/pgfleet/scripts/patroni-callback.sh`);
  assert.match(patroni(etcd3), /^  before_stop: \/opt\/pgfleet\/scripts\/label-role.py before_stop$/m, 'Patroni removes the label before PostgreSQL stops');
  const role = one(etcd3, 'Role', 'db-pgfleet-patroni');
  assert.equal(role.rules, [
    {
      apiGroups: [''],
      resources: ['pods'],
      verbs: ['patch'],
      resourceNames: ['db-pgfleet-shard-0-0', 'db-pgfleet-shard-0-1', 'db-pgfleet-shard-1-0', 'db-pgfleet-shard-1-1'],
    },
  ]);
  assert.is(one(etcd3, 'StatefulSet', 'db-pgfleet-shard-0').spec.template.spec.automountServiceAccountToken, true, 'the callback needs the token');
  const k8s = render().objects;
  assert.not.ok('label-role.py' in one(k8s, 'ConfigMap', 'db-pgfleet-scripts').data, 'the Kubernetes DCS labels pods itself');
  assert.not.match(patroni(k8s), 'patroni-callback.sh');
  assert.not.match(patroni(k8s), 'before_stop');
});

labels('a promotion labels the pod role=primary (merge patch, bearer token, verified TLS), then moves the poolers', async () => {
  st.calls = [];
  const r = await callback(['on_role_change', 'primary', 'db-pgfleet-shard-1']);
  assert.is(r.status, 0, r.stderr);
  assert.equal(st.calls, [
    {
      method: 'PATCH',
      path: '/api/v1/namespaces/prod/pods/db-pgfleet-shard-1-0',
      auth: 'Bearer the-token',
      type: 'application/merge-patch+json',
      body: { metadata: { labels: { role: 'primary' } } },
    },
  ]);
  assert.match(r.stderr, 'role=primary written');
  assert.match(r.stderr, 'pgfleet on-role-change', 'the pooler part ran too');
});

labels('a demotion and a start as replica label role=replica; a standby leader is primary; only a role change moves the poolers', async () => {
  for (const [args, want] of [
    [['on_role_change', 'demoted', 's'], 'replica'],
    [['on_start', 'replica', 's'], 'replica'],
    [['on_restart', 'standby_leader', 's'], 'primary'],
  ] as const) {
    st.calls = [];
    const r = await callback([...args]);
    assert.is(r.status, 0, r.stderr);
    assert.equal(
      st.calls.map((c) => c.body.metadata.labels.role),
      [want],
      args.join(' '),
    );
    assert.is(/pgfleet on-role-change/.test(r.stderr), args[0] === 'on_role_change', args.join(' '));
  }
});

labels('before PostgreSQL stops the label is removed (a demoted primary must not serve -primary read-only), in one short attempt', async () => {
  st.calls = [];
  const r = await callback(['before_stop'], {}, 'label-role.py');
  assert.is(r.status, 0, r.stderr);
  assert.equal(
    st.calls.map((c) => [c.method, c.path, c.body]),
    [['PATCH', '/api/v1/namespaces/prod/pods/db-pgfleet-shard-1-0', { metadata: { labels: { role: null } } }]],
  );
  assert.match(r.stderr, 'role label removed');
  st.calls = [];
  st.statuses = [503, 503];
  const started = Date.now();
  const failed = await callback(['before_stop'], {}, 'label-role.py');
  assert.is(failed.status, 0);
  assert.is(st.calls.length, 1, 'Patroni waits for before_stop: no retry');
  assert.ok(Date.now() - started < 3000, `before_stop took ${Date.now() - started} ms`);
  assert.match(failed.stderr, 'attempt 1 failed: HTTP Error 503');
  st.statuses = [];
});

labels('an API server that is unreachable or failing is retried until it takes the label (a partitioned pod relabels itself after the heal)', async () => {
  st.calls = [];
  st.statuses = [503, 503, 503, 500];
  const r = await callback(['on_role_change', 'demoted', 's']);
  assert.is(r.status, 0, r.stderr);
  assert.equal(
    st.calls.map((c) => c.body.metadata.labels.role),
    ['replica', 'replica', 'replica', 'replica', 'replica'],
  );
  assert.match(r.stderr, 'attempt 3 failed: HTTP Error 503: Service Unavailable; retrying');
  assert.match(r.stderr, 'role=replica written');
});

labels('a run retrying against an unreachable API server stops once a later run has taken over: an old role never lands over a newer one', async () => {
  st.calls = [];
  // Nothing listens on port 1: the stale run keeps retrying (a partitioned pod) until before_stop takes over.
  const stale = callback(['on_role_change', 'primary', 's'], { KUBERNETES_SERVICE_PORT: '1' });
  await new Promise((r) => setTimeout(r, 2000));
  const stop = await callback(['before_stop'], {}, 'label-role.py');
  assert.is(stop.status, 0);
  const r = await stale;
  assert.is(r.status, 0);
  assert.match(r.stderr, /attempt 2 failed: .*Connection refused.*; retrying/);
  assert.match(r.stderr, 'a later run labels the pod: this one stops');
  assert.equal(
    st.calls.map((c) => c.body.metadata.labels.role),
    [null],
    'only the later run reached the API server',
  );
});

labels('never fails Patroni: a refusal is retried twice and logged; no API server or credentials in the environment is logged', async () => {
  st.calls = [];
  st.statuses = [403, 403, 403];
  const r = await callback(['on_role_change', 'primary', 's']);
  assert.is(r.status, 0);
  assert.is(st.calls.length, 3);
  assert.match(r.stderr, 'attempt 3 failed: HTTP Error 403: Forbidden; label not written');
  st.calls = [];
  const none = await callback(['on_start', 'replica', 's'], { KUBERNETES_SERVICE_HOST: '' });
  assert.is(none.status, 0);
  assert.is(st.calls.length, 0);
  assert.match(none.stderr, 'no pod name, namespace or Kubernetes API in the environment');
  const untrusted = await callback(['on_start', 'replica', 's'], { PGFLEET_SERVICEACCOUNT_DIR: tmpdir() });
  assert.is(untrusted.status, 0);
  assert.match(untrusted.stderr, 'no service account credentials');
});
labels.run();
