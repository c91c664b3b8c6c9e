{{/* monitoring lines for NOTES.txt. */}}
{{- define "pgfleet.monitoring.notes" -}}
{{- $ := . -}}
{{- $v := .Values -}}
{{- $m := $v.monitoring -}}
{{- if $m.enabled }}
Metrics: postgres_exporter on port 9187{{ if $m.patroniMetrics }} and Patroni on port 8008 (/metrics){{ end }} of every database pod{{ if $m.podMonitor.enabled }}, scraped through PodMonitor {{ include "pgfleet.suffixed" (dict "root" . "suffix" "database") }}{{ end }}.
{{- /* The monitoring role is created at bootstrap: shards that exist without the exporter do not have it. */ -}}
{{- $existing := list -}}
{{- range $i := until (int $v.shards) -}}
{{- $name := include "pgfleet.shard" (dict "root" $ "shard" $i) -}}
{{- with (lookup "apps/v1" "StatefulSet" $.Release.Namespace $name) -}}
{{- $containers := list -}}
{{- range .spec.template.spec.containers }}{{ $containers = append $containers .name }}{{ end -}}
{{- if not (has "postgres-exporter" $containers) }}{{ $existing = append $existing $name }}{{ end -}}
{{- end -}}
{{- end -}}
{{- if $existing }}
WARNING: monitoring was just enabled on shards bootstrapped without it ({{ join ", " $existing }}): their role "{{ $v.auth.monitorUser }}" does not exist yet, so the exporters report pg_up 0. Create it once on each primary (chart README, runbook PgfleetExporterDown).
{{- end }}
{{- end }}
{{- if and $v.networkPolicy.enabled (or $m.enabled $m.patroniMetrics) (not $m.prometheusSelector) }}
WARNING: monitoring.prometheusSelector is empty: the NetworkPolicies let no Prometheus scrape the database pods. List your Prometheus as a NetworkPolicyPeer there.
{{- end }}
{{- end -}}
