// Metric families the database pods expose, as the alert rules and the dashboard may use them. Every PromQL
// expression in schema/alerts.ts and schema/dashboard.ts may only name metrics listed here (tests check it), so a
// renamed upstream metric is caught when this list is updated to a new exporter or Patroni release.

/** postgres_exporter v0.20 (`collector/*.go` in prometheus-community/postgres_exporter), default collectors. */
export const EXPORTER_METRICS = [
  'pg_up', // the exporter reached PostgreSQL on its last scrape
  'pg_replication_is_replica',
  'pg_replication_lag_seconds', // on a replica: now() - last replayed transaction (rises while the primary is idle)
  'pg_stat_replication_pg_wal_lsn_diff', // on the primary: bytes each standby is behind (labels application_name, state, slot_name, pid)
  'pg_stat_replication_pg_current_wal_lsn_bytes',
  'pg_stat_archiver_archived_count',
  'pg_stat_archiver_failed_count',
  'pg_stat_archiver_last_archive_age',
  'pg_stat_activity_count', // labels datname, state, usename, application_name, backend_type
  'pg_stat_activity_max_tx_duration',
  'pg_settings_max_connections', // settings collector: every numeric pg_settings row as pg_settings_<name>
  'pg_stat_database_xact_commit',
  'pg_stat_database_xact_rollback',
  'pg_stat_database_deadlocks',
  'pg_stat_database_blks_hit',
  'pg_stat_database_blks_read',
  'pg_stat_database_temp_bytes',
  'pg_database_size_bytes',
] as const;

/** Patroni's REST API `GET /metrics` on 8008 (`patroni/api.py`), labels `scope` (= shard) and `name` (= pod). */
export const PATRONI_METRICS = [
  'patroni_version',
  'patroni_postgres_running',
  'patroni_postmaster_start_time',
  'patroni_primary',
  'patroni_standby_leader',
  'patroni_replica',
  'patroni_sync_standby',
  'patroni_xlog_received_location',
  'patroni_xlog_replayed_location',
  'patroni_xlog_replayed_timestamp',
  'patroni_xlog_location',
  'patroni_xlog_paused',
  'patroni_postgres_streaming', // Patroni >= 3.1 (the chart's image ships 4.1); absent on older releases
  'patroni_postgres_in_archive_recovery',
  'patroni_postgres_server_version',
  'patroni_cluster_unlocked',
  'patroni_failsafe_mode_is_active',
  'patroni_postgres_timeline',
  'patroni_dcs_last_seen',
  'patroni_pending_restart',
  'patroni_is_paused',
] as const;

/** Series Prometheus itself adds to every scrape target. */
export const SCRAPE_METRICS = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped'] as const;

/**
 * The kubelet's volume metrics (scraped by the cluster's own monitoring, e.g. kube-prometheus-stack's kubelet
 * ServiceMonitor, not by this chart's PodMonitor), labelled `namespace` and `persistentvolumeclaim`.
 */
export const KUBELET_METRICS = ['kubelet_volume_stats_used_bytes', 'kubelet_volume_stats_capacity_bytes'] as const;

export const KNOWN_METRICS: ReadonlySet<string> = new Set([...EXPORTER_METRICS, ...PATRONI_METRICS, ...SCRAPE_METRICS, ...KUBELET_METRICS]);

/**
 * Labels every series of the database pods carries, set by the chart's PodMonitor: `namespace` and `pod`
 * (prometheus-operator), `container` (postgres-exporter or postgres, i.e. which endpoint) and `cluster_name`
 * (the pod label cluster-name = the shard = Patroni's scope).
 */
export const TARGET_LABELS = ['namespace', 'pod', 'container', 'cluster_name'] as const;

/** Container names: which endpoint a series comes from. */
export const EXPORTER_CONTAINER = 'postgres-exporter';
export const PATRONI_CONTAINER = 'postgres';

/**
 * Metric names a PromQL expression refers to: identifiers that are not functions, keywords, label names,
 * strings, durations or numbers. Good enough for the expressions this chart writes (no subqueries with offsets
 * of metrics named like functions).
 */
export function metricNames(expr: string): string[] {
  const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
  const cleaned = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range selectors / subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names = new Set<string>();
  for (const m of cleaned.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const id = m[0];
    const after = cleaned.slice(m.index! + id.length).trimStart();
    if (after.startsWith('(')) continue; // a function or aggregation
    if (KEYWORDS.has(id.toLowerCase())) continue;
    if (/^[0-9]/.test(id)) continue;
    names.add(id);
  }
  return [...names];
}
