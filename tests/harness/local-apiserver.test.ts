// Tier 2's API server stand-in: the pods' label patches reach it with the service-account token the kubelet
// mounts, and it answers as a real API server would: only an authenticated merge patch of labels that a rendered
// Role allows changes a pod, and nothing answers while the control plane is frozen.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { one, render } from '../../scripts/lib/helm.ts';
import { allowed, ApiServer } from '../../scripts/lib/local/apiserver.ts';
import type { LocalNode } from '../../scripts/lib/local/node.ts';

const objects = render({ values: ['charts/pgfleet/ci/02-etcd3-values.yaml'] }).objects;
const podSpec = one(objects, 'StatefulSet', 'db-pgfleet-shard-0').spec.template.spec;
const pods = [
  { name: 'db-pgfleet-shard-0-0', kind: 'StatefulSet', labels: { 'app.kubernetes.io/name': 'pgfleet' } as Record<string, string> },
  { name: 'other-0', kind: 'StatefulSet', labels: {} as Record<string, string> },
];
const dir = mkdtempSync(join(tmpdir(), 'pgfleet-apiserver-'));
const node = { dir, net: { hostIp: '127.0.0.1' }, namespace: 'default', objects, pods, log: () => {} } as unknown as LocalNode;
const api = new ApiServer(node, 0);
const st: { account: string; token: string; ca: string } = { account: '', token: '', ca: '' };

type Answer = { status: number; body: any };
function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port } = api.env();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port: Number(port),
        method,
        path,
        ca: st.ca,
        headers: { 'content-type': 'application/merge-patch+json', authorization: `Bearer ${st.token}`, ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : text }));
      },
    );
    req.on('error', reject).end(body === undefined ? undefined : JSON.stringify(body));
  });
}
const patch = (pod: string, body: unknown, headers?: Record<string, string>, ns = 'default') =>
  call('PATCH', `/api/v1/namespaces/${ns}/pods/${pod}`, body, headers);
const role = (value: string | null) => ({ metadata: { labels: { role: value } } });

const t = suite('tier 2: the API server stand-in');
t.before(async () => {
  await api.start();
  st.account = api.accountVolume(podSpec, process.getgid!())!;
  st.token = readFileSync(join(st.account, 'token'), 'utf8');
  st.ca = readFileSync(join(st.account, 'ca.crt'), 'utf8');
});
t.after(async () => {
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
});

t("the kubelet's service-account volume: token, CA and namespace, unless the pod or its account opts out", () => {
  assert.is(readFileSync(join(st.account, 'namespace'), 'utf8'), 'default');
  assert.ok(st.token.length >= 32);
  assert.is(api.accountVolume({ ...podSpec, automountServiceAccountToken: false }, 0), undefined, 'the pod opts out');
  const { automountServiceAccountToken: _, ...inherit } = podSpec;
  assert.is(api.accountVolume(inherit, 0), undefined, "the chart's ServiceAccount opts out; the pod template opts in");
  assert.ok(api.accountVolume({ serviceAccountName: 'unrendered' }, 0), 'an account the chart does not render mounts by default');
});

t('a merge patch of labels, authenticated and allowed by the rendered Role, changes the pod; null removes a label', async () => {
  assert.is((await patch('db-pgfleet-shard-0-0', role('primary'))).status, 200);
  assert.equal(pods[0]!.labels, { 'app.kubernetes.io/name': 'pgfleet', role: 'primary' });
  const removed = await patch('db-pgfleet-shard-0-0', role(null));
  assert.is(removed.status, 200);
  assert.equal(removed.body.metadata.labels, { 'app.kubernetes.io/name': 'pgfleet' });
});

t('everything else is refused as a real API server would, and changes nothing', async () => {
  pods[0]!.labels.role = 'replica';
  const before = structuredClone(pods.map((p) => p.labels));
  assert.is((await patch('db-pgfleet-shard-0-0', role('primary'), { authorization: '' })).status, 401, 'no token');
  assert.is((await patch('db-pgfleet-shard-0-0', role('primary'), { authorization: 'Bearer forged' })).status, 401, 'unknown token');
  assert.is((await patch('other-0', role('primary'))).status, 403, "not among the Role's resourceNames");
  assert.is((await patch('db-pgfleet-shard-0-0', role('primary'), {}, 'kube-system')).status, 404, 'another namespace');
  assert.is((await call('GET', '/api/v1/namespaces/default/pods/db-pgfleet-shard-0-0')).status, 405);
  assert.is((await patch('db-pgfleet-shard-0-0', role('primary'), { 'content-type': 'application/json-patch+json' })).status, 415);
  assert.is((await patch('db-pgfleet-shard-0-0', { spec: { nodeName: 'x' } })).status, 422, 'not a label patch');
  assert.is((await patch('db-pgfleet-shard-0-9', role('primary'))).status, 403, 'a pod the Role does not name');
  assert.equal(
    pods.map((p) => p.labels),
    before,
  );
  assert.equal(
    api.requests.slice(-8).map((p) => p.status),
    [401, 401, 403, 404, 405, 415, 422, 403],
    'every request is recorded',
  );
});

t('while the control plane is frozen a patch waits, and lands at the thaw', async () => {
  api.freeze();
  let answered = false;
  const pending = patch('db-pgfleet-shard-0-0', role('primary')).then((a) => ((answered = true), a));
  await new Promise((r) => setTimeout(r, 500));
  assert.not.ok(answered, 'answered while frozen');
  assert.is(pods[0]!.labels.role, 'replica');
  api.thaw();
  assert.is((await pending).status, 200);
  assert.is(pods[0]!.labels.role, 'primary');
});

t("the API server stand-in authorises by the rendered Roles: the etcd3 callback may patch only its release's database pods", () => {
  assert.ok(allowed(objects, 'default', 'db-pgfleet-patroni', 'patch', 'db-pgfleet-shard-1-1'));
  assert.not.ok(allowed(objects, 'default', 'db-pgfleet-patroni', 'patch', 'other-0'), 'resourceNames hold');
  assert.not.ok(allowed(objects, 'default', 'db-pgfleet-patroni', 'delete', 'db-pgfleet-shard-1-1'), 'verbs hold');
  assert.not.ok(allowed(objects, 'other', 'db-pgfleet-patroni', 'patch', 'db-pgfleet-shard-1-1'), "the binding's subject is in the release namespace");
  assert.not.ok(allowed(objects, 'default', 'default', 'patch', 'db-pgfleet-shard-1-1'), 'another service account');
  const kube = render().objects;
  assert.ok(allowed(kube, 'default', 'db-pgfleet-patroni', 'patch', 'anything'), "the Kubernetes DCS's Role has no resourceNames");
  assert.not.ok(
    allowed(render({ set: { 'serviceAccount.create': false } }).objects, 'default', 'db-pgfleet-patroni', 'patch', 'db-pgfleet-shard-0-0'),
    'no Role rendered',
  );
});
t.run();
