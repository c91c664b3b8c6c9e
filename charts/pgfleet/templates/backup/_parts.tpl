{{/* backup contributions to the database pods (see pgfleet.parts): each returns a YAML list. */}}
{{- define "pgfleet.backup.containers" -}}[]{{- end -}}
{{- define "pgfleet.backup.volumes" -}}[]{{- end -}}
{{- define "pgfleet.backup.volumeMounts" -}}[]{{- end -}}
{{- define "pgfleet.backup.env" -}}[]{{- end -}}
{{/* Extra NetworkPolicy ingress / egress rules for the database pods. */}}
{{- define "pgfleet.backup.ingress" -}}[]{{- end -}}
{{- define "pgfleet.backup.egress" -}}[]{{- end -}}
