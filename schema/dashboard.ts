// The chart's Grafana dashboard, modelled once: scripts/lib/generate.ts writes it to charts/pgfleet/files/dashboard.json
// and templates/monitoring/dashboard-configmap.yaml ships it. Every expression may only use metrics listed in
// schema/metrics.ts (tests check it). Variables: datasource, namespace, shard (the cluster_name label).

export const DASHBOARD_UID = 'pgfleet-overview';
const SEL = 'namespace="$namespace", cluster_name=~"$shard"';

type Target = { expr: string; legendFormat: string };
type Panel = {
  title: string;
  type: 'stat' | 'timeseries';
  unit: string;
  description: string;
  targets: Target[];
  w: number;
  h: number;
};

const t = (expr: string, legendFormat: string): Target => ({ expr, legendFormat });

const rows: { title: string; panels: Panel[] }[] = [
  {
    title: 'Topology',
    panels: [
      {
        title: 'Primaries per shard',
        type: 'stat',
        unit: 'none',
        w: 6,
        h: 5,
        description: 'Patroni members reporting primary: exactly 1 per shard is healthy.',
        targets: [t(`sum by (cluster_name) (patroni_primary{${SEL}})`, '{{cluster_name}}')],
      },
      {
        title: 'Streaming replicas per shard',
        type: 'stat',
        unit: 'none',
        w: 6,
        h: 5,
        description: 'Replicas streaming WAL from their primary.',
        targets: [t(`sum by (cluster_name) (patroni_postgres_streaming{${SEL}} and on (namespace, pod) patroni_replica{${SEL}} == 1)`, '{{cluster_name}}')],
      },
      {
        title: 'Pending restart',
        type: 'stat',
        unit: 'none',
        w: 6,
        h: 5,
        description: 'Members that need a restart to apply changed parameters.',
        targets: [t(`sum by (cluster_name) (patroni_pending_restart{${SEL}})`, '{{cluster_name}}')],
      },
      {
        title: 'Targets up',
        type: 'stat',
        unit: 'percentunit',
        w: 6,
        h: 5,
        description: 'Share of exporter and Patroni endpoints scraped successfully.',
        targets: [t(`avg by (container) (up{${SEL}})`, '{{container}}')],
      },
      {
        title: 'Timeline',
        type: 'timeseries',
        unit: 'none',
        w: 12,
        h: 7,
        description: 'A timeline change is a failover or switchover.',
        targets: [t(`max by (cluster_name) (patroni_postgres_timeline{${SEL}})`, '{{cluster_name}}')],
      },
      {
        title: 'Exporter reaches PostgreSQL',
        type: 'timeseries',
        unit: 'none',
        w: 12,
        h: 7,
        description: 'pg_up per pod: 0 means the exporter cannot connect.',
        targets: [t(`pg_up{${SEL}}`, '{{pod}}')],
      },
    ],
  },
  {
    title: 'Replication',
    panels: [
      {
        title: 'Replication lag (bytes, seen by the primary)',
        type: 'timeseries',
        unit: 'bytes',
        w: 12,
        h: 8,
        description: 'pg_stat_replication on the primary: replay lag per standby.',
        targets: [t(`max by (cluster_name, application_name) (pg_stat_replication_pg_wal_lsn_diff{${SEL}})`, '{{cluster_name}} {{application_name}}')],
      },
      {
        title: 'Replay lag (bytes, seen by Patroni)',
        type: 'timeseries',
        unit: 'bytes',
        w: 12,
        h: 8,
        description: "The primary's WAL position minus each replica's replayed position.",
        targets: [
          t(
            `max by (cluster_name) (patroni_xlog_location{${SEL}}) - on (cluster_name) group_right max by (cluster_name, pod) (patroni_xlog_replayed_location{${SEL}})`,
            '{{pod}}',
          ),
        ],
      },
      {
        title: 'Replica replay delay (seconds)',
        type: 'timeseries',
        unit: 's',
        w: 12,
        h: 8,
        description: 'now() - last replayed transaction on each replica; it also rises while the primary is idle.',
        targets: [t(`pg_replication_lag_seconds{${SEL}} and on (namespace, pod) pg_replication_is_replica{${SEL}} == 1`, '{{pod}}')],
      },
      {
        title: 'WAL write rate (primary)',
        type: 'timeseries',
        unit: 'Bps',
        w: 12,
        h: 8,
        description: 'Bytes of WAL the primary writes per second.',
        targets: [t(`sum by (cluster_name) (rate(patroni_xlog_location{${SEL}}[$__rate_interval]))`, '{{cluster_name}}')],
      },
    ],
  },
  {
    title: 'WAL archiving',
    panels: [
      {
        title: 'Archived / failed per second',
        type: 'timeseries',
        unit: 'ops',
        w: 12,
        h: 8,
        description: 'pg_stat_archiver counters: failures mean archive_command is failing.',
        targets: [
          t(`sum by (pod) (rate(pg_stat_archiver_archived_count{${SEL}}[$__rate_interval]))`, '{{pod}} archived'),
          t(`sum by (pod) (rate(pg_stat_archiver_failed_count{${SEL}}[$__rate_interval]))`, '{{pod}} failed'),
        ],
      },
      {
        title: 'Last archive age',
        type: 'timeseries',
        unit: 's',
        w: 12,
        h: 8,
        description: 'Seconds since the last WAL segment was archived.',
        targets: [t(`pg_stat_archiver_last_archive_age{${SEL}} and on (namespace, pod) patroni_primary{${SEL}} == 1`, '{{pod}}')],
      },
    ],
  },
  {
    title: 'Load',
    panels: [
      {
        title: 'Connections vs max_connections',
        type: 'timeseries',
        unit: 'percentunit',
        w: 12,
        h: 8,
        description: 'Client backends as a share of max_connections.',
        targets: [t(`sum by (pod) (pg_stat_activity_count{${SEL}}) / max by (pod) (pg_settings_max_connections{${SEL}})`, '{{pod}}')],
      },
      {
        title: 'Connections by state',
        type: 'timeseries',
        unit: 'none',
        w: 12,
        h: 8,
        description: 'pg_stat_activity by state.',
        targets: [t(`sum by (pod, state) (pg_stat_activity_count{${SEL}})`, '{{pod}} {{state}}')],
      },
      {
        title: 'Transactions per second',
        type: 'timeseries',
        unit: 'ops',
        w: 12,
        h: 8,
        description: 'Commits and rollbacks per second.',
        targets: [
          t(`sum by (pod) (rate(pg_stat_database_xact_commit{${SEL}}[$__rate_interval]))`, '{{pod}} commit'),
          t(`sum by (pod) (rate(pg_stat_database_xact_rollback{${SEL}}[$__rate_interval]))`, '{{pod}} rollback'),
        ],
      },
      {
        title: 'Longest transaction',
        type: 'timeseries',
        unit: 's',
        w: 12,
        h: 8,
        description: 'Age of the oldest open transaction.',
        targets: [t(`max by (pod) (pg_stat_activity_max_tx_duration{${SEL}})`, '{{pod}}')],
      },
      {
        title: 'Cache hit ratio',
        type: 'timeseries',
        unit: 'percentunit',
        w: 12,
        h: 8,
        description: 'Blocks found in shared buffers.',
        targets: [
          t(
            `sum by (pod) (rate(pg_stat_database_blks_hit{${SEL}}[$__rate_interval])) / (sum by (pod) (rate(pg_stat_database_blks_hit{${SEL}}[$__rate_interval])) + sum by (pod) (rate(pg_stat_database_blks_read{${SEL}}[$__rate_interval])))`,
            '{{pod}}',
          ),
        ],
      },
      {
        title: 'Database size',
        type: 'timeseries',
        unit: 'bytes',
        w: 12,
        h: 8,
        description: 'Size of each database on the primary.',
        targets: [t(`max by (cluster_name, datname) (pg_database_size_bytes{${SEL}})`, '{{cluster_name}} {{datname}}')],
      },
    ],
  },
];

/** The dashboard JSON model (Grafana schemaVersion 39). `note` goes into its description (JSON has no comments). */
export function dashboardModel(note: string): Record<string, unknown> {
  let id = 0;
  let y = 0;
  const panels: unknown[] = [];
  for (const row of rows) {
    panels.push({ id: ++id, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const p of row.panels) {
      if (x + p.w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push({
        id: ++id,
        type: p.type,
        title: p.title,
        description: p.description,
        datasource: { type: 'prometheus', uid: '${datasource}' },
        gridPos: { h: p.h, w: p.w, x, y },
        fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
        options:
          p.type === 'stat'
            ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value' }
            : { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
        targets: p.targets.map((tg, i) => ({
          refId: String.fromCharCode(65 + i),
          datasource: { type: 'prometheus', uid: '${datasource}' },
          expr: tg.expr,
          legendFormat: tg.legendFormat,
        })),
      });
      x += p.w;
      rowHeight = Math.max(rowHeight, p.h);
    }
    y += rowHeight;
  }
  return {
    uid: DASHBOARD_UID,
    title: 'pgfleet',
    description: `PostgreSQL shards run by the pgfleet chart: Patroni topology, replication, WAL archiving, load. ${note}`,
    tags: ['pgfleet', 'postgresql', 'patroni'],
    editable: false,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    timezone: 'browser',
    templating: {
      list: [
        { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source', current: {}, hide: 0 },
        {
          name: 'namespace',
          type: 'query',
          label: 'Namespace',
          datasource: { type: 'prometheus', uid: '${datasource}' },
          query: { query: 'label_values(patroni_primary, namespace)', refId: 'namespace' },
          definition: 'label_values(patroni_primary, namespace)',
          refresh: 2,
          current: {},
          hide: 0,
        },
        {
          name: 'shard',
          type: 'query',
          label: 'Shard',
          datasource: { type: 'prometheus', uid: '${datasource}' },
          query: { query: 'label_values(patroni_primary{namespace="$namespace"}, cluster_name)', refId: 'shard' },
          definition: 'label_values(patroni_primary{namespace="$namespace"}, cluster_name)',
          refresh: 2,
          multi: true,
          includeAll: true,
          allValue: '.+',
          current: {},
          hide: 0,
        },
      ],
    },
    annotations: { list: [] },
    panels,
  };
}

/** Every PromQL expression of the dashboard (panels and variables). */
export function dashboardExprs(model = dashboardModel('')): string[] {
  const panels = (model.panels as any[]).flatMap((p) => (p.targets ?? []).map((tg: any) => tg.expr as string));
  const vars = ((model.templating as any).list as any[])
    .filter((v) => v.type === 'query')
    .map((v) => /label_values\((.*),\s*\w+\)$/.exec(v.definition)?.[1] ?? v.definition);
  return [...panels, ...vars];
}
