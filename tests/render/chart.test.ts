// Chart metadata, helm lint, render idempotence and NOTES (yamllint is in tests/runtime/lint.test.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { helm, render } from '../../scripts/lib/helm.ts';
import { chartDir, root } from '../../scripts/lib/tools.ts';
import { scenarioFiles } from '../lib/values.ts';
import { notesOf } from '../lib/notes.ts';

const meta = suite('Chart.yaml');
const chartText = readFileSync(join(chartDir, 'Chart.yaml'), 'utf8');
const chart = parse(chartText);
meta('apiVersion v2, SemVer version, quoted appVersion, kubeVersion constraint', () => {
  assert.is(chart.apiVersion, 'v2');
  assert.match(chart.version, /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/);
  assert.match(chartText, /^appVersion: "[^"]+"$/m);
  assert.match(chart.kubeVersion, /^>=\s*1\.\d+/);
});
meta('the default image tag carries the appVersion (PostgreSQL major.minor)', () => {
  const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
  assert.ok(values.image.tag.startsWith(`${chart.appVersion}-`), `${values.image.tag} vs appVersion ${chart.appVersion}`);
});
meta.run();

const lint = suite('linters');
lint('helm lint --strict passes with defaults and every scenario', () => {
  for (const file of [undefined, ...scenarioFiles()]) {
    const r = helm(['lint', '--strict', chartDir, ...(file ? ['--values', file] : [])]);
    assert.is(r.status, 0, `${file ?? 'defaults'}:\n${r.stdout}${r.stderr}`);
  }
});
lint.run();

const idem = suite('idempotence');
idem('rendering twice with existing Secrets gives byte-identical output', () => {
  const set = { shards: 2, 'auth.existingSecret': 'creds', 'tls.provider': 'existingSecret', 'tls.existingSecret': 'tls' };
  assert.fixture(render({ set }).text, render({ set }).text);
});
idem("a pod template changes when Patroni's local configuration changes (checksum annotation), not its bootstrap-only part", () => {
  const checksum = (set: Record<string, string | number>) =>
    render({ set: { 'auth.existingSecret': 'c', ...set } }).objects.find((o) => o.kind === 'StatefulSet')!.spec.template.metadata.annotations[
      'checksum/patroni'
    ];
  assert.is.not(checksum({ 'patroni.logLevel': 'INFO' }), checksum({ 'patroni.logLevel': 'DEBUG' }));
  assert.is(checksum({ 'patroni.ttl': 20 }), checksum({ 'patroni.ttl': 30 }));
});
idem.run();

const notes = suite('NOTES.txt');
notes("lists every shard's endpoints and how to read the app password", () => {
  const text = notesOf(['--set', 'shards=2']);
  assert.match(text, 'db-pgfleet-shard-1-primary.prod.svc');
  assert.match(text, 'db-pgfleet-shard-0-replicas.prod.svc');
  assert.match(text, "jsonpath='{.data.app-password}'");
  assert.match(text, 'helm test db');
});
notes('warns about replicas: 0 and synchronous mode with a single standby', () => {
  assert.match(notesOf(['--set', 'replicas=0']), 'WARNING: replicas is 0');
  assert.match(notesOf(['--set', 'patroni.synchronousMode=on']), 'WARNING: synchronous mode with replicas: 1');
  assert.not.match(notesOf(['--set', 'replicas=2', '--set', 'patroni.synchronousMode=on']), 'WARNING: synchronous mode');
});
notes.run();

const image = suite('images/postgres/Dockerfile');
image('its versions are the ones the default image tag names', () => {
  const dockerfile = readFileSync(join(root, 'images', 'postgres', 'Dockerfile'), 'utf8');
  const arg = (name: string) => new RegExp(`^ARG ${name}=(\\S+)$`, 'm').exec(dockerfile)?.[1];
  const pg = /^FROM postgres:(\d+\.\d+)-bookworm$/m.exec(dockerfile)?.[1];
  const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
  assert.is(values.image.tag, `${pg}-patroni${arg('PATRONI_VERSION')}-pgbackrest${arg('PGBACKREST_VERSION')}`);
  assert.is(chart.appVersion, pg);
  assert.match(dockerfile, /^USER 999:999$/m);
});
image.run();

const docs = suite('install instructions');
docs('README and the k3s example install the current chart version', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const k3s = parse(readFileSync(join(root, 'examples', 'k3s-helmchart.yaml'), 'utf8'));
  assert.match(readme, `--version ${chart.version}`);
  assert.is(k3s.spec.version, chart.version);
  assert.match(readme, `version: ${chart.version}`);
  assert.is(k3s.spec.failurePolicy, 'abort');
  assert.is(k3s.spec.chart, 'oci://ghcr.io/pgfleet/charts/pgfleet');
});
docs("the k3s example's valuesContent is valid for the chart", () => {
  const k3s = parse(readFileSync(join(root, 'examples', 'k3s-helmchart.yaml'), 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-k3s-'));
  try {
    const file = join(dir, 'values.yaml');
    writeFileSync(file, k3s.spec.valuesContent);
    const sts = render({ values: [file] }).objects.filter((o) => o.kind === 'StatefulSet');
    assert.is(sts.length, parse(k3s.spec.valuesContent).shards);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
docs('the Argo CD example renders the same twice (offlineRender) and installs the current version', () => {
  const app = parse(readFileSync(join(root, 'examples', 'argocd-application.yaml'), 'utf8'));
  assert.is(app.spec.source.targetRevision, chart.version);
  assert.is(app.spec.source.helm.valuesObject.offlineRender, true);
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-argocd-'));
  try {
    const file = join(dir, 'values.yaml');
    writeFileSync(file, JSON.stringify(app.spec.source.helm.valuesObject)); // JSON, as Argo CD passes it: YAML 1.1 would read on as true
    const first = render({ values: [file], release: app.spec.source.helm.releaseName });
    assert.is(first.objects.filter((o) => o.kind === 'StatefulSet').length, app.spec.source.helm.valuesObject.shards);
    assert.fixture(render({ values: [file], release: app.spec.source.helm.releaseName }).text, first.text);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
docs.run();
