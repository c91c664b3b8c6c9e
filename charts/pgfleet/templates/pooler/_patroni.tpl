{{/*
Pooler additions to patroni.yml of one shard: (dict "root" $ "shard" i) -> YAML map.
Failover-following: Patroni runs on-role-change.sh whenever a member of the shard changes role; the script sends
RECONNECT to every pooler pod of the shard (files/scripts/on-role-change.sh and the chart README).
*/}}
{{- define "pgfleet.pooler.patroni" -}}
{{- if ne .root.Values.pooler.type "none" -}}
postgresql:
  callbacks:
    on_role_change: /opt/pgfleet/scripts/on-role-change.sh
{{- else -}}
{}
{{- end -}}
{{- end -}}
