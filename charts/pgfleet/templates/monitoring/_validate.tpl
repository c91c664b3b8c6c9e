{{/* Monitoring cross-field rules: a YAML list of messages, each starting with the values path. */}}
{{- define "pgfleet.validate.monitoring" -}}
{{- $errors := list -}}
{{- $v := .Values -}}
{{- $m := $v.monitoring -}}
{{- if and $m.podMonitor.enabled (not (or $m.enabled $m.patroniMetrics)) -}}
{{- $errors = append $errors "monitoring.podMonitor.enabled: nothing to scrape: enable monitoring.enabled (the exporter) or monitoring.patroniMetrics" -}}
{{- end -}}
{{- if and $m.prometheusRule.enabled (not (and $m.enabled $m.patroniMetrics)) -}}
{{- $errors = append $errors "monitoring.prometheusRule.enabled: the alerts read both exporter and Patroni metrics: needs monitoring.enabled and monitoring.patroniMetrics" -}}
{{- end -}}
{{- if $m.podMonitor.enabled -}}
{{- $interval := include "pgfleet.monitoring.seconds" $m.podMonitor.interval | float64 -}}
{{- $timeout := include "pgfleet.monitoring.seconds" $m.podMonitor.scrapeTimeout | float64 -}}
{{- if gt $timeout $interval -}}
{{- $errors = append $errors (printf "monitoring.podMonitor.scrapeTimeout: %s is longer than monitoring.podMonitor.interval %s (Prometheus refuses the scrape config)" $m.podMonitor.scrapeTimeout $m.podMonitor.interval) -}}
{{- end -}}
{{- end -}}
{{- if $m.enabled -}}
{{- $others := list $v.auth.superuser $v.auth.replicationUser $v.auth.rewindUser $v.auth.adminUser $v.auth.appUser $v.auth.poolerUser -}}
{{- if has $v.auth.monitorUser $others -}}
{{- $errors = append $errors (printf "auth.monitorUser: %q is already another role of the chart: the monitoring role must be its own least-privilege role" $v.auth.monitorUser) -}}
{{- end -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}

{{/* A Prometheus duration (values pattern ^[0-9]+(ms|s|m|h)$) in seconds. */}}
{{- define "pgfleet.monitoring.seconds" -}}
{{- $n := regexFind "^[0-9]+" . | float64 -}}
{{- $unit := regexFind "(ms|s|m|h)$" . -}}
{{- if eq $unit "ms" }}{{ divf $n 1000 }}{{ else if eq $unit "m" }}{{ mulf $n 60 }}{{ else if eq $unit "h" }}{{ mulf $n 3600 }}{{ else }}{{ $n }}{{ end -}}
{{- end -}}

{{/* The release's shards as PromQL matchers (replaces the placeholder of files/prometheus-rules.yaml). */}}
{{/* The release's data volumes, as the kubelet's volume metrics label them (claim template `data`). */}}
{{- define "pgfleet.monitoring.volumeSelector" -}}
{{- printf "namespace=%q, persistentvolumeclaim=~%q" .Release.Namespace (printf "data-%s-shard-[0-9]+-[0-9]+" (include "pgfleet.fullname" . | replace "." "[.]")) -}}
{{- end -}}

{{- define "pgfleet.monitoring.selector" -}}
{{- printf "namespace=%q, cluster_name=~%q" .Release.Namespace (printf "%s-shard-[0-9]+" (include "pgfleet.fullname" . | replace "." "[.]")) -}}
{{- end -}}
