{{/* pooler lines for NOTES.txt. */}}
{{- define "pgfleet.pooler.notes" -}}{{- end -}}
