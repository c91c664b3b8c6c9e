// The PgDog shard-count guard. `helm template` has no cluster, so `lookup` finds nothing; in a scratch copy of the
// chart the one `lookup` of the guard is replaced by a fake prior ConfigMap, and the whole chart is rendered, so the
// refusal goes through the real validation path (validate.yaml -> pgfleet.validate -> pgfleet.validate.pooler).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { one, render, renderAsync, RenderError, type K8sObject } from '../../scripts/lib/helm.ts';
import { parse as parseToml } from 'smol-toml';
import { startFakeApiServer, type FakeApiServer } from '../lib/fake-apiserver.ts';
import { chartDir } from '../../scripts/lib/tools.ts';
import type { SetValues } from '../../schema/values-paths.ts';

const toml = (o: K8sObject[]) => parseToml(one(o, 'ConfigMap', 'db-pgfleet-pgdog').data['pgdog.toml']) as any;

const reshard = suite('pooler: PgDog refuses a shard-count change on an installed release');
const scratch = mkdtempSync(join(tmpdir(), 'pgfleet-reshard-'));
const chart = join(scratch, 'pgfleet');
cpSync(chartDir, chart, { recursive: true });

const validateTpl = join(chart, 'templates', 'pooler', '_validate.tpl');
const original = readFileSync(validateTpl, 'utf8');
const LOOKUP = 'lookup "v1" "ConfigMap" .Release.Namespace (include "pgfleet.pgdog.name" .)';

/** Renders with a fake prior state: `prior` is the ConfigMap's pgfleet.io/shards annotation, or null for a first install. */
function withPrior(prior: string | null, set: SetValues) {
  const fake = prior === null ? 'dict' : `(dict "metadata" (dict "annotations" (dict "pgfleet.io/shards" ${JSON.stringify(prior)})))`;
  const patched = original.replace(LOOKUP, fake);
  if (patched === original) throw new Error(`the guard no longer uses ${LOOKUP}`);
  writeFileSync(validateTpl, patched);
  return render({ chart, set: { 'pooler.type': 'pgdog', ...set } });
}

reshard.after(() => rmSync(scratch, { recursive: true, force: true }));

reshard('first install (no prior ConfigMap) and an unchanged shard count render', () => {
  withPrior(null, { shards: 3 });
  withPrior('3', { shards: 3 });
});

reshard('2 -> 3 shards is refused, naming shards and why', () => {
  try {
    withPrior('2', { shards: 3 });
    assert.unreachable('rendered');
  } catch (e) {
    if (!(e instanceof RenderError)) throw e;
    assert.match(e.message, /shards: this release routes with PgDog over 2 shard\(s\) and would now get 3/);
    assert.match(e.message, /modulo the shard count/);
    assert.match(e.message, /pooler\.pgdog\.allowReshard: true/);
  }
  assert.throws(() => withPrior('4', { shards: 2 }), /over 4 shard\(s\) and would now get 2/);
});

reshard('pooler.pgdog.allowReshard: true lets the change through and records the new count', () => {
  const { objects } = withPrior('2', { shards: 3, 'pooler.pgdog.allowReshard': true });
  assert.is(one(objects, 'ConfigMap', 'db-pgfleet-pgdog').metadata.annotations?.['pgfleet.io/shards'], '3');
});

reshard('the guard only applies to PgDog', () => {
  withPrior('2', { shards: 3, 'pooler.type': 'pgbouncer' });
});

reshard.run();

// ---------------------------------------------------------------------------------------------------------
// The same guard through a real `lookup`: the previous release's objects served by the fake API server.
const upgrade = suite('pooler: upgrade against the installed release (fake API server)');
let api: FakeApiServer;
let installed: K8sObject[] = [];
upgrade.before(async () => {
  installed = render({ set: { shards: 2, 'pooler.type': 'pgdog' } }).objects;
  api = await startFakeApiServer(installed);
});
upgrade.after(async () => {
  await api?.close();
});
const upgradeWith = (set: SetValues) => renderAsync({ set: { shards: 2, 'pooler.type': 'pgdog', ...set }, apiServer: api.url });

upgrade('adding a shard under PgDog is refused, naming shards and the reason', async () => {
  try {
    await upgradeWith({ shards: 3 });
  } catch (e) {
    assert.match((e as Error).message, /shards: this release routes with PgDog over 2 shard\(s\) and would now get 3/);
    assert.ok(api.requests.includes('GET /api/v1/namespaces/default/configmaps/db-pgfleet-pgdog'), api.requests.join('\n'));
    return;
  }
  assert.unreachable('the upgrade was accepted');
});

upgrade('allowReshard lets it through; an unchanged count needs nothing', async () => {
  const { objects } = await upgradeWith({ shards: 3, 'pooler.pgdog.allowReshard': true });
  assert.is(toml(objects).databases.length, 6);
  await upgradeWith({});
});

upgrade('the pooler passwords are reused on upgrade, not regenerated', async () => {
  const { objects } = await upgradeWith({});
  assert.equal(one(objects, 'Secret', 'db-pgfleet-pooler').data, one(installed, 'Secret', 'db-pgfleet-pooler').data);
});

upgrade.run();
