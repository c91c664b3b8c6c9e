{{/* Backup additions to patroni.yml of one shard: (dict "root" $ "shard" i) -> YAML map merged over the base. */}}
{{- define "pgfleet.backup.patroni" -}}
{}
{{- end -}}
