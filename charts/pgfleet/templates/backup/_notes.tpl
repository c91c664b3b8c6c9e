{{/* backup lines for NOTES.txt. */}}
{{- define "pgfleet.backup.notes" -}}{{- end -}}
