{{/* Pooler additions to patroni.yml of one shard (e.g. on_role_change): (dict "root" $ "shard" i) -> YAML map. */}}
{{- define "pgfleet.pooler.patroni" -}}
{}
{{- end -}}
