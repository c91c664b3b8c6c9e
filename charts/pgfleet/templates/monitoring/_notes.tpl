{{/* monitoring lines for NOTES.txt. */}}
{{- define "pgfleet.monitoring.notes" -}}
{{- $v := .Values -}}
{{- $m := $v.monitoring -}}
{{- if $m.enabled }}
Metrics: postgres_exporter on port 9187{{ if $m.patroniMetrics }} and Patroni on port 8008 (/metrics){{ end }} of every database pod{{ if $m.podMonitor.enabled }}, scraped through PodMonitor {{ include "pgfleet.suffixed" (dict "root" . "suffix" "database") }}{{ end }}.
{{- end }}
{{- if and $v.networkPolicy.enabled (or $m.enabled $m.patroniMetrics) (not $m.prometheusSelector) }}
WARNING: monitoring.prometheusSelector is empty: the NetworkPolicies let no Prometheus scrape the database pods. List your Prometheus as a NetworkPolicyPeer there.
{{- end }}
{{- end -}}
