{{/* pooler contributions to the database pods (see pgfleet.parts): each returns a YAML list. */}}
{{- define "pgfleet.pooler.containers" -}}[]{{- end -}}
{{- define "pgfleet.pooler.volumes" -}}[]{{- end -}}
{{- define "pgfleet.pooler.volumeMounts" -}}[]{{- end -}}
{{- define "pgfleet.pooler.env" -}}[]{{- end -}}
{{/* Extra NetworkPolicy ingress / egress rules for the database pods. */}}
{{- define "pgfleet.pooler.ingress" -}}[]{{- end -}}
{{- define "pgfleet.pooler.egress" -}}[]{{- end -}}
