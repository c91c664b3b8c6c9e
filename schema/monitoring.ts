// Values for monitoring: the postgres_exporter sidecar, Patroni's /metrics, the PodMonitor, the PrometheusRule
// and the Grafana dashboard (the rules and the dashboard themselves are modelled in schema/alerts.ts and
// schema/dashboard.ts and generated into charts/pgfleet/files/).
import { annotations, bool, labels, list, obj, resources, promLabels, str, type Schema } from './dsl.ts';
import { image } from './core.ts';

const DURATION = '^[0-9]+(ms|s|m|h)$';

export const monitoring: Record<string, Schema> = {
  monitoring: obj('Metrics, alerts and dashboards for the database pods.', {
    enabled: bool(
      'Run a postgres_exporter sidecar (port 9187) in every database pod. It connects over the Unix socket as ' +
        '`auth.monitorUser` (a member of `pg_monitor`, created at bootstrap) with the auth Secret key ' +
        '`monitor-password`.',
      true,
    ),
    exporter: obj('The postgres_exporter sidecar.', {
      image: image('postgres_exporter image.', 'quay.io/prometheuscommunity/postgres-exporter', 'v0.20.1'),
      resources: resources('Exporter container resources (requests and limits).', { cpu: '10m', memory: '32Mi' }, { memory: '128Mi' }),
      extraArgs: list('Extra exporter flags, e.g. `--collector.stat_statements` (each starts with `--`).', {
        type: 'string',
        pattern: '^--[a-z][a-z0-9._-]*(=.*)?$',
      }),
    }),
    patroniMetrics: bool(
      "Scrape Patroni's own `/metrics` on port 8008 (PodMonitor endpoint and NetworkPolicy ingress from " +
        '`monitoring.prometheusSelector`). NetworkPolicy cannot filter by path: the Prometheus peers reach the whole ' +
        'Patroni REST API.',
      true,
    ),
    prometheusSelector: list(
      'NetworkPolicyPeer objects (namespaceSelector and/or podSelector) of the Prometheus that scrapes the database ' +
        'pods on 9187 (and 8008). Empty: no scrape traffic is allowed while NetworkPolicies are on.',
      { type: 'object', minProperties: 1 },
    ),
    podMonitor: obj('prometheus-operator PodMonitor for the database pods (exporter and Patroni endpoints). Needs the monitoring.coreos.com CRDs.', {
      enabled: bool('Create the PodMonitor.', false),
      interval: str('Scrape interval.', '30s', { pattern: DURATION }),
      scrapeTimeout: str('Scrape timeout (<= interval).', '10s', { pattern: DURATION }),
      labels: labels('Extra labels on the PodMonitor (to match your Prometheus `podMonitorSelector`).'),
    }),
    prometheusRule: obj(
      "prometheus-operator PrometheusRule with the chart's alerts (runbooks in the chart README). Needs the " +
        "PodMonitor's `cluster_name` label, or the same relabelling in your own scrape config.",
      {
        enabled: bool('Create the PrometheusRule.', false),
        labels: labels('Extra labels on the PrometheusRule (to match your Prometheus `ruleSelector`).'),
        alertLabels: promLabels("Extra labels on every alert (e.g. `team`), for Alertmanager routing; an alert's own `severity` is kept."),
      },
    ),
    grafanaDashboard: obj('Grafana dashboard ConfigMap, picked up by the Grafana sidecar.', {
      enabled: bool('Create the dashboard ConfigMap.', false),
      labels: labels('Labels on the ConfigMap; the Grafana sidecar looks for `grafana_dashboard`.', { grafana_dashboard: '1' }),
      annotations: annotations('Annotations on the ConfigMap (e.g. `grafana_folder`).'),
    }),
  }),
};
