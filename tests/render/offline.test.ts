// offlineRender: what Argo CD or `helm template | kubectl apply` re-render must never change. Without cluster
// access `lookup` sees nothing, so anything the chart generates would be replaced on every render.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { basename } from 'node:path';
import { find, render, RenderError, type RenderOptions } from '../../scripts/lib/helm.ts';
import { scenarioFiles } from '../lib/values.ts';

/** What a GitOps user sets: every credential and certificate from a Secret they own, no Helm-only hooks. */
const offline = {
  offlineRender: true,
  'auth.existingSecret': 'pg-credentials',
  'tls.provider': 'existingSecret',
  'tls.existingSecret': 'pg-tls',
  'backups.server.tls.existingSecret': 'pgbackrest-server-tls',
  'patroni.cleanupOnUninstall': false,
  'tests.enabled': false,
};

const refusal = (o: RenderOptions): string => {
  try {
    render(o);
  } catch (e) {
    assert.instance(e, RenderError);
    return (e as Error).message;
  }
  throw new Error(`rendered: ${JSON.stringify(o.set)}`);
};

const test = suite('offlineRender');

test('the defaults are refused, each value to set named in one message', () => {
  const message = refusal({ set: { offlineRender: true } });
  for (const path of ['auth.existingSecret: required', 'tls.provider: "helm"', 'patroni.cleanupOnUninstall:', 'tests.enabled:']) {
    assert.ok(message.includes(path), `${path} missing from:\n${message}`);
  }
  assert.ok(message.includes('patroni-api-password') && message.includes('pooler-stats-password'), message);
  assert.not.ok(message.includes('backups.server.tls'), 'backups are off by default');
});

for (const [key, value, path] of [
  ['auth.existingSecret', '', 'auth.existingSecret: required'],
  ['tls.provider', 'helm', 'tls.provider: "helm"'],
  ['patroni.cleanupOnUninstall', true, 'patroni.cleanupOnUninstall:'],
  ['tests.enabled', true, 'tests.enabled:'],
] as const) {
  test(`${key}: ${JSON.stringify(value)} alone is refused`, () => {
    const message = refusal({ set: { ...offline, [key]: value } });
    assert.ok(message.startsWith(`Error: execution error`) && message.includes(path), message);
    assert.is(message.split('\n').filter((l) => /^[a-z][A-Za-z.]+: /.test(l.replace(/^.*\): /, ''))).length, 1, message);
  });
}

test('generated backup certificates are refused while backups are on', () => {
  const message = refusal({
    values: [scenarioFiles().find((f) => basename(f) === '20-backups-values.yaml')!],
    set: { ...offline, 'backups.server.tls.existingSecret': '' },
  });
  assert.ok(message.includes('backups.server.tls.existingSecret: required while backups.enabled'), message);
});

test('the cleanup hook is not refused with etcd3 (it is not rendered there)', () => {
  const { objects } = render({
    set: { ...offline, 'patroni.cleanupOnUninstall': true, 'patroni.dcs.type': 'etcd3', 'patroni.dcs.etcd3.hosts[0]': 'etcd:2379' },
  });
  assert.is(find(objects, 'Job').length, 0);
});

test('without it, two renders of the defaults differ (what a GitOps re-render would apply)', () => {
  assert.is.not(render().text, render().text);
});

test('with it, no Secret is generated and no hook is rendered', () => {
  const { objects } = render({ set: offline });
  assert.equal(
    find(objects, 'Secret').map((o) => o.metadata.name),
    [],
  );
  assert.equal(
    objects.filter((o) => o.metadata.annotations?.['helm.sh/hook']).map((o) => `${o.kind}/${o.metadata.name}`),
    [],
  );
});

for (const file of scenarioFiles()) {
  test(`${basename(file)}: two offline renders are identical`, () => {
    const first = render({ values: [file], set: offline }).text;
    assert.fixture(render({ values: [file], set: offline }).text, first);
  });
}

test.run();
