{{/* Pooler cross-field rules: a YAML list of messages, each starting with the values path. */}}
{{- define "pgfleet.validate.pooler" -}}
{{- $errors := list -}}
{{- toYaml $errors -}}
{{- end -}}
