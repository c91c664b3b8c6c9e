// Monitoring: the postgres_exporter sidecar, the monitoring role, Patroni /metrics, PodMonitor, NetworkPolicy
// ingress for Prometheus, PrometheusRule and the Grafana dashboard ConfigMap, each per values.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { SELECTOR_PLACEHOLDER, VOLUME_SELECTOR_PLACEHOLDER } from '../../schema/alerts.ts';
import { find, helm, one, render, type K8sObject } from '../../scripts/lib/helm.ts';
import { chartDir, toolPath } from '../../scripts/lib/tools.ts';
import { startFakeApiServer } from '../lib/fake-apiserver.ts';
import { validateObject } from '../lib/k8s.ts';
import { restrictedViolations } from '../lib/podsecurity.ts';
import { chartEnv } from '../../scripts/lib/contract.ts';

const S = 'db-pgfleet-shard-0';
const podSpec = (objects: K8sObject[], name = S) => one(objects, 'StatefulSet', name).spec.template.spec;
const exporterOf = (objects: K8sObject[]) => podSpec(objects).containers.find((c: any) => c.name === 'postgres-exporter');
const envMap = (c: any) => Object.fromEntries((c.env ?? []).map((e: any) => [e.name, e.value ?? e.valueFrom]));
/** A PodMonitor needs a Prometheus the NetworkPolicies admit (or an acknowledgement). */
const SCRAPER = { 'monitoring.prometheusSelector[0].namespaceSelector.matchLabels.name': 'monitoring' };
const ALL_ON = {
  ...SCRAPER,
  'monitoring.podMonitor.enabled': true,
  'monitoring.prometheusRule.enabled': true,
  'monitoring.grafanaDashboard.enabled': true,
};

const sidecar = suite('postgres_exporter sidecar');
sidecar('on by default: pinned image, port 9187, resources from values, restricted', () => {
  const { objects } = render({ set: { 'monitoring.exporter.resources.requests.cpu': '25m' } });
  const c = exporterOf(objects);
  assert.ok(c, 'no postgres-exporter container');
  assert.is(c.image, 'quay.io/prometheuscommunity/postgres-exporter:v0.20.1');
  assert.equal(c.ports, [{ name: 'metrics', containerPort: 9187 }]);
  assert.ok(c.args.includes('--web.listen-address=:9187'));
  assert.is(c.resources.requests.cpu, '25m');
  assert.is(c.securityContext.runAsUser, 65534);
  assert.equal(restrictedViolations(podSpec(objects)), []);
  assert.is(c.livenessProbe.httpGet.port, 'metrics');
});
sidecar('connects over the Unix socket PostgreSQL listens on, as the monitoring role, password from a file', async () => {
  const { objects } = render({ set: { 'auth.monitorUser': 'metrics_reader' } });
  const c = exporterOf(objects);
  const env = envMap(c);
  const patroni = parse(one(objects, 'ConfigMap', `${S}-patroni`).data['patroni.yml']);
  const socketDir = patroni.postgresql.parameters.unix_socket_directories;
  assert.is(env.DATA_SOURCE_URI, `:5432/postgres?host=${socketDir}&sslmode=disable`);
  assert.is(env.DATA_SOURCE_USER, 'metrics_reader');
  assert.ok(patroni.postgresql.pg_hba.includes('local all all scram-sha-256'), 'the socket must accept password logins');
  // the socket directory is the postgres container's own volume, shared read-only
  const pg = podSpec(objects).containers.find((x: any) => x.name === 'postgres');
  const pgRun = pg.volumeMounts.find((m: any) => m.mountPath === socketDir);
  const exRun = c.volumeMounts.find((m: any) => m.mountPath === socketDir);
  assert.ok(pgRun && exRun && pgRun.name === exRun.name, 'exporter does not share the socket volume');
  assert.is(exRun.readOnly, true);
  // DATA_SOURCE_PASS_FILE points into a Secret volume holding only monitor-password
  const mount = c.volumeMounts.find((m: any) => env.DATA_SOURCE_PASS_FILE.startsWith(`${m.mountPath}/`));
  const vol = podSpec(objects).volumes.find((v: any) => v.name === mount.name);
  assert.equal(vol.secret.items, [{ key: 'monitor-password', path: env.DATA_SOURCE_PASS_FILE.slice(mount.mountPath.length + 1) }]);
  assert.is(vol.secret.secretName, 'db-pgfleet-auth');
  assert.not.ok(JSON.stringify(c.env).includes('secretKeyRef'), 'the exporter never gets a password in its environment');
  for (const o of objects) await validateObject(o);
});
sidecar('existingSecret: the password file comes from it', () => {
  const { objects } = render({ set: { 'auth.existingSecret': 'mine' } });
  const vol = podSpec(objects).volumes.find((v: any) => v.name === 'monitor-password');
  assert.is(vol.secret.secretName, 'mine');
});
sidecar('extraArgs are passed through', () => {
  const c = exporterOf(render({ set: { 'monitoring.exporter.extraArgs[0]': '--collector.stat_statements' } }).objects);
  assert.ok(c.args.includes('--collector.stat_statements'));
});
sidecar('monitoring.enabled=false: no sidecar, no password volume, no monitoring env on postgres', () => {
  const { objects } = render({ set: { 'monitoring.enabled': false } });
  assert.is(exporterOf(objects), undefined);
  assert.not.ok(podSpec(objects).volumes.some((v: any) => v.name === 'monitor-password'));
  assert.not.ok(JSON.stringify(podSpec(objects).containers[0].env).includes('monitor-password'));
});
sidecar.run();

const role = suite('monitoring role');
const script = (set = {}) => one(render({ set }).objects, 'ConfigMap', 'db-pgfleet-scripts').data['post-bootstrap.sh'] as string;
role('post-bootstrap creates it idempotently: LOGIN, pg_monitor, nothing more', () => {
  const s = script({ 'auth.monitorUser': 'metrics_reader' });
  assert.is(chartEnv(podSpec(render({ set: { 'auth.monitorUser': 'metrics_reader' } }).objects).containers[0]).PGFLEET_MONITOR_USER, 'metrics_reader');
  assert.match(s, '-v monitor_user="$PGFLEET_MONITOR_USER" -v monitor_password="$PGFLEET_MONITOR_PASSWORD"');
  assert.match(s, "SELECT format('CREATE ROLE %I', :'monitor_user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'monitor_user') \\gexec");
  assert.match(
    s,
    /ALTER ROLE :"monitor_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT \d+ PASSWORD :'monitor_password';/,
  );
  assert.match(s, 'GRANT pg_monitor TO :"monitor_user";');
  assert.not.match(s, /GRANT (?!pg_monitor)[^;]* TO :"monitor_user"/);
});
role('the postgres container gets the password the script reads', () => {
  const env = podSpec(render().objects).containers[0].env.find((e: any) => e.name === 'PGFLEET_MONITOR_PASSWORD');
  assert.equal(env.valueFrom.secretKeyRef, { name: 'db-pgfleet-auth', key: 'monitor-password' });
});
role('monitoring.enabled=false: no password, so the script creates no monitoring role', () => {
  assert.not.ok(podSpec(render({ set: { 'monitoring.enabled': false } }).objects).containers[0].env.some((e: any) => e.name === 'PGFLEET_MONITOR_PASSWORD'));
  assert.match(script(), /if \[ -n "\$\{PGFLEET_MONITOR_PASSWORD:-\}" \]; then\n# postgres_exporter's role/);
});
role.run();

const pm = suite('PodMonitor');
pm('off by default (the CRDs may be absent)', () => {
  const { objects } = render();
  assert.is(find(objects, 'PodMonitor').length + find(objects, 'PrometheusRule').length, 0);
  assert.is(find(objects, 'ConfigMap', 'db-pgfleet-dashboard').length, 0);
});
pm("exporter and Patroni endpoints of the release's database pods, interval, timeout and labels from values", async () => {
  const { objects } = render({
    set: {
      shards: 2,
      ...SCRAPER,
      'monitoring.podMonitor.enabled': true,
      'monitoring.podMonitor.interval': '15s',
      'monitoring.podMonitor.scrapeTimeout': '5s',
      'monitoring.podMonitor.labels.release': 'kube-prometheus',
    },
  });
  const m = one(objects, 'PodMonitor', 'db-pgfleet-database');
  await validateObject(m);
  assert.is(m.metadata.labels.release, 'kube-prometheus');
  assert.equal(m.spec.namespaceSelector, { matchNames: ['default'] });
  assert.equal(
    m.spec.podMetricsEndpoints.map((e: any) => [e.port, e.path, e.interval, e.scrapeTimeout]),
    [
      ['metrics', '/metrics', '15s', '5s'],
      ['patroni', '/metrics', '15s', '5s'],
    ],
  );
  for (const i of [0, 1]) {
    const tpl = one(objects, 'StatefulSet', `db-pgfleet-shard-${i}`).spec.template;
    for (const [k, v] of Object.entries<string>(m.spec.selector.matchLabels)) assert.is(tpl.metadata.labels[k], v, `shard ${i} pods are not selected`);
    const ports = tpl.spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.name));
    for (const e of m.spec.podMetricsEndpoints) assert.ok(ports.includes(e.port), `no container port named ${e.port}`);
  }
  for (const e of m.spec.podMetricsEndpoints) {
    const targets = e.relabelings.map((r: any) => `${r.sourceLabels.join(',')}->${r.targetLabel}`);
    assert.ok(targets.includes('__meta_kubernetes_pod_label_cluster_name->cluster_name'), 'the alert rules need cluster_name');
    assert.ok(targets.includes('__meta_kubernetes_pod_container_name->container'), 'the alert rules need container');
  }
});
pm('patroniMetrics=false: only the exporter endpoint; monitoring.enabled=false: only Patroni', () => {
  const ports = (set: Record<string, boolean>) =>
    one(
      render({ set: { ...SCRAPER, 'monitoring.podMonitor.enabled': true, ...set } }).objects,
      'PodMonitor',
      'db-pgfleet-database',
    ).spec.podMetricsEndpoints.map((e: any) => e.port);
  assert.equal(ports({ 'monitoring.patroniMetrics': false }), ['metrics']);
  assert.equal(ports({ 'monitoring.enabled': false }), ['patroni']);
});
pm.run();

const net = suite('NetworkPolicy for Prometheus');
const ingress = (set: Record<string, unknown> = {}) => one(render({ set: set as any }).objects, 'NetworkPolicy', S).spec.ingress as any[];
const scrapeRule = (rules: any[]) =>
  rules.find(
    (r) =>
      r.ports.some((p: any) => p.port === 9187 || p.port === 8008) &&
      !r.from.some((f: any) => ['database', 'dcs-sync'].includes(f.podSelector?.matchLabels?.['app.kubernetes.io/component'])),
  );
net('no selector: nothing may scrape, and NOTES say so', () => {
  assert.is(scrapeRule(ingress()), undefined);
  const notes = (args: string[]) => {
    const r = helm(['install', 'db', chartDir, '--dry-run=client', '--namespace', 'prod', ...args]);
    assert.is(r.status, 0, r.stderr);
    return r.stdout.slice(r.stdout.indexOf('NOTES:'));
  };
  assert.match(notes([]), 'WARNING: monitoring.prometheusSelector is empty');
  const ok = notes(['--set', 'monitoring.prometheusSelector[0].namespaceSelector.matchLabels.name=monitoring', '--set', 'monitoring.podMonitor.enabled=true']);
  assert.not.match(ok, 'monitoring.prometheusSelector is empty');
  assert.match(ok, 'scraped through PodMonitor db-pgfleet-database');
});
net('monitoring.prometheusSelector: 9187 and 8008 from those peers only', () => {
  const rule = scrapeRule(
    ingress({
      'monitoring.prometheusSelector[0].namespaceSelector.matchLabels.name': 'monitoring',
      'monitoring.prometheusSelector[0].podSelector.matchLabels.app': 'prometheus',
    }),
  );
  assert.equal(rule.ports, [
    { port: 9187, protocol: 'TCP' },
    { port: 8008, protocol: 'TCP' },
  ]);
  assert.equal(rule.from, [{ namespaceSelector: { matchLabels: { name: 'monitoring' } }, podSelector: { matchLabels: { app: 'prometheus' } } }]);
});
net('patroniMetrics=false keeps 8008 shard-internal', () => {
  const rule = scrapeRule(ingress({ 'monitoring.prometheusSelector[0].namespaceSelector.matchLabels.name': 'monitoring', 'monitoring.patroniMetrics': false }));
  assert.equal(rule.ports, [{ port: 9187, protocol: 'TCP' }]);
});
net.run();

const rule = suite('PrometheusRule');
const generated = parse(readFileSync(join(chartDir, 'files', 'prometheus-rules.yaml'), 'utf8'));
rule("embeds the generated rules with the release's namespace and shards in every expression", async () => {
  const { objects } = render({
    release: 'db',
    namespace: 'prod',
    set: { 'monitoring.prometheusRule.enabled': true, 'monitoring.prometheusRule.labels.release': 'kube-prometheus' },
  });
  const r = one(objects, 'PrometheusRule', 'db-pgfleet-alerts');
  await validateObject(r);
  assert.is(r.metadata.labels.release, 'kube-prometheus');
  const rules = r.spec.groups.flatMap((g: any) => g.rules);
  const source = generated.groups.flatMap((g: any) => g.rules);
  assert.equal(
    rules.map((x: any) => x.alert),
    source.map((x: any) => x.alert),
  );
  for (const [i, x] of rules.entries()) {
    assert.not.match(x.expr, SELECTOR_PLACEHOLDER);
    assert.not.match(x.expr, VOLUME_SELECTOR_PLACEHOLDER);
    assert.is(
      x.expr,
      source[i].expr
        .replaceAll(SELECTOR_PLACEHOLDER, 'namespace="prod", cluster_name=~"db-pgfleet-shard-[0-9]+"')
        .replaceAll(VOLUME_SELECTOR_PLACEHOLDER, 'namespace="prod", persistentvolumeclaim=~"data-db-pgfleet-shard-[0-9]+-[0-9]+"'),
    );
    assert.equal(x.annotations, source[i].annotations);
  }
});
rule('alertLabels reach every alert but never replace its severity; dots in the release name are matched literally', () => {
  const r = one(
    render({
      release: 'db.v2',
      set: {
        'monitoring.prometheusRule.enabled': true,
        'monitoring.prometheusRule.alertLabels.team': 'data',
        'monitoring.prometheusRule.alertLabels.severity': 'page',
      },
    }).objects,
    'PrometheusRule',
    'db.v2-pgfleet-alerts',
  );
  const source = generated.groups.flatMap((g: any) => g.rules);
  for (const [i, x] of r.spec.groups.flatMap((g: any) => g.rules).entries()) {
    assert.is(x.labels.team, 'data');
    assert.is(x.labels.severity, source[i].labels.severity);
    assert.ok(
      x.expr.includes('cluster_name=~"db[.]v2-pgfleet-shard-[0-9]+"') || x.expr.includes('persistentvolumeclaim=~"data-db[.]v2-pgfleet-shard-[0-9]+-[0-9]+"'),
      x.expr,
    );
  }
});
rule.run();

const dash = suite('Grafana dashboard ConfigMap');
dash('label grafana_dashboard "1", the generated JSON verbatim', () => {
  const cm = one(
    render({ set: { 'monitoring.grafanaDashboard.enabled': true, 'monitoring.grafanaDashboard.annotations.grafana_folder': 'Databases' } }).objects,
    'ConfigMap',
    'db-pgfleet-dashboard',
  );
  assert.is(cm.metadata.labels.grafana_dashboard, '1');
  assert.is(cm.metadata.annotations.grafana_folder, 'Databases');
  assert.equal(JSON.parse(cm.data['pgfleet.json']), JSON.parse(readFileSync(join(chartDir, 'files', 'dashboard.json'), 'utf8')));
});
dash('everything on renders valid objects', async () => {
  for (const o of render({ set: ALL_ON }).objects) await validateObject(o);
});
dash.run();

const upgrade = suite('enabling monitoring on existing shards');
// NOTES as `helm install --dry-run=server` prints them, with `installed` served by a fake API server for lookup.
async function notesAgainst(installed: K8sObject[]): Promise<string> {
  const api = await startFakeApiServer(installed);
  try {
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        toolPath('helm'),
        [
          'install',
          'db',
          chartDir,
          '--namespace',
          'default',
          '--dry-run=server',
          '--disable-openapi-validation',
          '--kube-apiserver',
          api.url,
          '--set',
          'shards=2',
        ],
        { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null' } },
        (err, out, errOut) => (err ? reject(new Error(errOut || err.message)) : resolve(out)),
      ),
    );
    return stdout.slice(stdout.indexOf('NOTES:'));
  } finally {
    await api.close();
  }
}
upgrade('shards that run without the exporter: NOTES say the monitoring role must be created by hand', async () => {
  const notes = await notesAgainst(render({ set: { shards: 2, 'monitoring.enabled': false } }).objects);
  assert.match(
    notes,
    'WARNING: monitoring was just enabled on shards bootstrapped without it (db-pgfleet-shard-0, db-pgfleet-shard-1): their role "pgfleet_monitor" does not exist yet',
  );
});
upgrade('shards that already run it, or a fresh install: no such warning', async () => {
  assert.not.match(await notesAgainst(render({ set: { shards: 2 } }).objects), 'monitoring was just enabled');
  const fresh = await notesAgainst([]);
  assert.match(fresh, 'Metrics: postgres_exporter on port 9187');
  assert.not.match(fresh, 'monitoring was just enabled');
});
upgrade.run();
