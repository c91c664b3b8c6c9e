// The chart's alerting rules, modelled once: scripts/lib/generate.ts writes them to
// charts/pgfleet/files/prometheus-rules.yaml, templates/monitoring/prometheusrule.yaml embeds that file per release
// (replacing the placeholder matcher with the release's namespace and shards), the chart README carries one runbook
// per alert, and tests/fixtures/promtool/ holds promtool unit tests for them.
import { EXPORTER_CONTAINER, PATRONI_CONTAINER } from './metrics.ts';

/** The matcher the chart replaces, per release, with `namespace="<ns>", cluster_name=~"<fullname>-shard-[0-9]+"`. */
export const SELECTOR_PLACEHOLDER = 'pgfleet_selector=""';
const S = SELECTOR_PLACEHOLDER;

/**
 * The matcher the chart replaces, per release, with `namespace="<ns>", persistentvolumeclaim=~"data-<fullname>-shard-[0-9]+-[0-9]+"`:
 * the data volumes, as the kubelet's volume metrics name them.
 */
export const VOLUME_SELECTOR_PLACEHOLDER = 'pgfleet_volume_selector=""';
const V = VOLUME_SELECTOR_PLACEHOLDER;

/** Where the runbooks live (the chart README's "Runbooks" section; anchors are the lower-cased alert names). */
export const RUNBOOK_BASE = 'https://github.com/pgfleet/pgfleet/blob/main/charts/pgfleet/README.md';

/** Thresholds (documented in the runbooks). */
export const THRESHOLDS = {
  replicationLagBytes: 256 * 1024 * 1024,
  archiveStaleSeconds: 1800,
  walSegmentBytes: 16 * 1024 * 1024,
  connectionsRatio: 0.85,
  volumeUsedRatio: 0.8,
} as const;

export type Alert = {
  alert: string;
  expr: string;
  for: string;
  severity: 'critical' | 'warning' | 'info';
  summary: string;
  description: string;
};

const per = (labels: string) => `by (namespace, cluster_name${labels ? `, ${labels}` : ''})`;

export const alerts: Alert[] = [
  {
    alert: 'PgfleetNoPrimary',
    expr: `(sum ${per('')} (patroni_primary{${S}}) or sum ${per('')} (up{${S}, container="${PATRONI_CONTAINER}"}) * 0) == 0`,
    for: '1m',
    severity: 'critical',
    summary: 'Shard {{ $labels.cluster_name }} has no primary',
    description:
      'No Patroni member of shard {{ $labels.cluster_name }} in namespace {{ $labels.namespace }} has been primary ' +
      'for 1 minute: writes to this shard fail.',
  },
  {
    alert: 'PgfleetMultiplePrimaries',
    expr: `sum ${per('')} (patroni_primary{${S}}) > 1`,
    for: '1m',
    severity: 'critical',
    summary: 'Shard {{ $labels.cluster_name }} has {{ $value }} primaries',
    description:
      '{{ $value }} Patroni members of shard {{ $labels.cluster_name }} in namespace {{ $labels.namespace }} report ' + 'themselves primary: split brain risk.',
  },
  {
    alert: 'PgfleetReplicationLagHigh',
    expr: `max ${per('pod, application_name')} (pg_stat_replication_pg_wal_lsn_diff{${S}}) > ${THRESHOLDS.replicationLagBytes}`,
    for: '5m',
    severity: 'warning',
    summary: 'Standby {{ $labels.application_name }} of shard {{ $labels.cluster_name }} lags {{ $value | humanize1024 }}B',
    description:
      'The primary {{ $labels.pod }} reports standby {{ $labels.application_name }} {{ $value | humanize1024 }}B ' +
      'behind for 5 minutes; a lagging standby is not promoted past patroni.maximumLagOnFailover.',
  },
  {
    alert: 'PgfleetReplicaNotStreaming',
    expr: `(max ${per('pod')} (patroni_replica{${S}}) == 1) and on (namespace, pod) (max by (namespace, pod) (patroni_postgres_streaming{${S}}) == 0)`,
    for: '2m',
    severity: 'warning',
    summary: 'Replica {{ $labels.pod }} of shard {{ $labels.cluster_name }} is not streaming',
    description: 'Replica {{ $labels.pod }} in namespace {{ $labels.namespace }} has not been streaming WAL from the primary for 2 minutes.',
  },
  {
    alert: 'PgfleetWalArchivingFailing',
    expr: `increase(pg_stat_archiver_failed_count{${S}}[5m]) > 0`,
    for: '5m',
    severity: 'critical',
    summary: 'WAL archiving fails on {{ $labels.pod }}',
    description:
      'archive_command failed on {{ $labels.pod }} (shard {{ $labels.cluster_name }}) in every 5-minute window for 5 ' +
      'minutes: point-in-time recovery is at risk and pg_wal grows until the disk fills.',
  },
  {
    alert: 'PgfleetWalArchivingStale',
    expr: `(max ${per('pod')} (pg_stat_archiver_last_archive_age{${S}}) > ${THRESHOLDS.archiveStaleSeconds}) and on (namespace, pod) (max by (namespace, pod) (patroni_primary{${S}}) == 1) and on (namespace, pod) (max by (namespace, pod) (delta(patroni_xlog_location{${S}}[30m])) > ${THRESHOLDS.walSegmentBytes})`,
    for: '5m',
    severity: 'warning',
    summary: 'No WAL archived from {{ $labels.pod }} for {{ $value | humanizeDuration }}',
    description:
      'The primary {{ $labels.pod }} (shard {{ $labels.cluster_name }}) wrote more than one WAL segment in the last ' +
      '30 minutes but archived nothing for {{ $value | humanizeDuration }}.',
  },
  {
    alert: 'PgfleetPendingRestart',
    expr: `max ${per('pod')} (patroni_pending_restart{${S}}) == 1`,
    for: '15m',
    severity: 'warning',
    summary: '{{ $labels.pod }} needs a restart to apply configuration',
    description:
      'Patroni reports a pending restart on {{ $labels.pod }} (shard {{ $labels.cluster_name }}) for 15 minutes: a ' +
      'changed parameter only takes effect after a restart.',
  },
  {
    alert: 'PgfleetExporterDown',
    expr: `(max ${per('pod')} (up{${S}, container="${EXPORTER_CONTAINER}"}) == 0) or (max ${per('pod')} (pg_up{${S}}) == 0)`,
    for: '5m',
    severity: 'warning',
    summary: 'postgres_exporter on {{ $labels.pod }} is down or cannot reach PostgreSQL',
    description:
      'The exporter of {{ $labels.pod }} (shard {{ $labels.cluster_name }}) has not been scraped, or has not reached ' +
      'PostgreSQL, for 5 minutes: the other alerts for this pod are blind.',
  },
  {
    alert: 'PgfleetPatroniDown',
    expr: `max ${per('pod')} (up{${S}, container="${PATRONI_CONTAINER}"}) == 0`,
    for: '5m',
    severity: 'warning',
    summary: 'Patroni REST API of {{ $labels.pod }} cannot be scraped',
    description: "Prometheus has not scraped Patroni's /metrics on {{ $labels.pod }} (shard {{ $labels.cluster_name }}) for 5 minutes.",
  },
  {
    alert: 'PgfleetConnectionsNearMax',
    expr: `sum ${per('pod')} (pg_stat_activity_count{${S}}) / max ${per('pod')} (pg_settings_max_connections{${S}}) > ${THRESHOLDS.connectionsRatio}`,
    for: '5m',
    severity: 'warning',
    summary: '{{ $labels.pod }} uses {{ $value | humanizePercentage }} of max_connections',
    description: `Client connections on {{ $labels.pod }} (shard {{ $labels.cluster_name }}) have been above ${THRESHOLDS.connectionsRatio * 100}% of max_connections for 5 minutes: new connections will soon be refused.`,
  },
  {
    alert: 'PgfleetVolumeFillingUp',
    expr: `max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_used_bytes{${V}}) / max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_capacity_bytes{${V}}) > ${THRESHOLDS.volumeUsedRatio}`,
    for: '5m',
    severity: 'warning',
    summary: 'Data volume {{ $labels.persistentvolumeclaim }} is {{ $value | humanizePercentage }} full',
    description: `The data volume {{ $labels.persistentvolumeclaim }} in namespace {{ $labels.namespace }} has been more than ${THRESHOLDS.volumeUsedRatio * 100}% full for 5 minutes (the kubelet's volume metrics). PostgreSQL stops when it is full: WAL waiting to be archived, a replication slot holding WAL, or data growth.`,
  },
];

/** The rules file as Prometheus reads it (runbook_url added per alert). */
export function rulesDocument(): { groups: unknown[] } {
  return {
    groups: [
      {
        name: 'pgfleet',
        rules: alerts.map((a) => ({
          alert: a.alert,
          expr: a.expr,
          for: a.for,
          labels: { severity: a.severity },
          annotations: { summary: a.summary, description: a.description, runbook_url: `${RUNBOOK_BASE}#${a.alert.toLowerCase()}` },
        })),
      },
    ],
  };
}
