// The TypeScript models of the alerts and the dashboard: well-formed, using only metrics the exporter or
// Patroni expose, every alert with a runbook and at least one promtool fixture that expects it to fire.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { alerts, RUNBOOK_BASE, rulesDocument } from '../../schema/alerts.ts';
import { dashboardExprs, dashboardModel } from '../../schema/dashboard.ts';
import { KNOWN_METRICS, metricNames } from '../../schema/metrics.ts';
import { chartDir, root } from '../../scripts/lib/tools.ts';

const names = suite('metricNames (PromQL metric extraction)');
names('finds metrics, skips functions, keywords, labels, strings and durations', () => {
  assert.equal(
    metricNames(
      'sum by (pod) (rate(pg_stat_database_xact_commit{namespace="a", x=~"b.c"}[5m])) / on (pod) group_left max(pg_settings_max_connections) > 0.8',
    ).sort(),
    ['pg_settings_max_connections', 'pg_stat_database_xact_commit'],
  );
  assert.equal(metricNames('(up{container="postgres"} == 0) or absent(pg_up) and bool 1'), ['up', 'pg_up']);
  assert.equal(metricNames('pg_no_such_metric > 1'), ['pg_no_such_metric']);
});
names.run();

const rules = suite('alert model');
rules('every alert: unique Pgfleet name, severity, summary, description, for, a known metric only', () => {
  assert.ok(alerts.length >= 10);
  assert.is(new Set(alerts.map((a) => a.alert)).size, alerts.length);
  for (const a of alerts) {
    assert.match(a.alert, /^Pgfleet[A-Z][A-Za-z]+$/);
    assert.ok(['critical', 'warning', 'info'].includes(a.severity));
    assert.ok(a.summary.length > 10 && a.description.length > 20, a.alert);
    assert.match(a.for, /^\d+[smh]$/);
    const unknown = metricNames(a.expr).filter((m) => !KNOWN_METRICS.has(m));
    assert.equal(unknown, [], `${a.alert} uses metrics neither the exporter nor Patroni expose`);
  }
});
rules("the brief's alerts are all there", () => {
  for (const name of [
    'PgfleetNoPrimary',
    'PgfleetMultiplePrimaries',
    'PgfleetReplicationLagHigh',
    'PgfleetReplicaNotStreaming',
    'PgfleetWalArchivingFailing',
    'PgfleetWalArchivingStale',
    'PgfleetPendingRestart',
    'PgfleetExporterDown',
    'PgfleetConnectionsNearMax',
  ]) {
    assert.ok(
      alerts.some((a) => a.alert === name),
      `${name} missing`,
    );
  }
});
rules('every alert has a runbook in the chart README, and runbook_url points at it', () => {
  const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');
  const runbooks = readme.slice(readme.indexOf('\n## Runbooks'));
  assert.ok(readme.includes('\n## Runbooks'), 'the chart README has no "## Runbooks" section');
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8'));
  assert.ok(RUNBOOK_BASE.startsWith(chart.home), `${RUNBOOK_BASE} is not under Chart.yaml home ${chart.home}`);
  for (const r of rulesDocument().groups.flatMap((g: any) => g.rules)) {
    assert.match(runbooks, new RegExp(`^### ${r.alert}$`, 'm'), `no "### ${r.alert}" runbook`);
    assert.is(r.annotations.runbook_url, `${RUNBOOK_BASE}#${r.alert.toLowerCase()}`);
  }
});
rules('every alert has a promtool fixture where it fires and one where it stays silent', () => {
  const dir = join(root, 'tests', 'fixtures', 'promtool');
  const cases = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parse(readFileSync(join(dir, f), 'utf8')).tests.flatMap((t: any) => t.alert_rule_test ?? []));
  for (const a of alerts) {
    assert.ok(
      cases.some((c: any) => c.alertname === a.alert && c.exp_alerts?.length > 0),
      `${a.alert} is never expected to fire`,
    );
    assert.ok(
      cases.some((c: any) => c.alertname === a.alert && c.exp_alerts?.length === 0),
      `${a.alert} is never expected to stay silent`,
    );
  }
});
rules.run();

const dash = suite('dashboard model');
const file = JSON.parse(readFileSync(join(chartDir, 'files', 'dashboard.json'), 'utf8'));
dash('files/dashboard.json parses, says it is generated, has a stable uid', () => {
  assert.is(file.uid, 'pgfleet-overview');
  assert.match(file.description, 'DO NOT EDIT');
  assert.equal(
    file.templating.list.map((v: any) => v.name),
    ['datasource', 'namespace', 'shard'],
  );
});
dash('every panel and variable expression references only metrics the exporter or Patroni expose', () => {
  const exprs = dashboardExprs(file);
  assert.ok(exprs.length >= 15);
  for (const e of exprs) {
    const found = metricNames(e);
    assert.ok(found.length > 0, `no metric in ${e}`);
    assert.equal(
      found.filter((m) => !KNOWN_METRICS.has(m)),
      [],
      e,
    );
  }
});
dash('panels: unique ids, inside the 24-column grid, every query panel selects the namespace and shard', () => {
  const panels = file.panels as any[];
  assert.is(new Set(panels.map((p) => p.id)).size, panels.length);
  for (const p of panels) {
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, p.title);
    for (const t of p.targets ?? []) assert.match(t.expr, 'namespace="$namespace", cluster_name=~"$shard"', p.title);
  }
  assert.equal(dashboardModel('x').panels, file.panels);
});
dash.run();
