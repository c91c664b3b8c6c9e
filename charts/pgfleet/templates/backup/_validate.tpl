{{/* Backup cross-field rules: a YAML list of messages, each starting with the values path. */}}
{{- define "pgfleet.validate.backups" -}}
{{- $errors := list -}}
{{- toYaml $errors -}}
{{- end -}}
