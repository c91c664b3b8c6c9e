{{/* Connection endpoints for NOTES.txt (the lead includes this): per-shard rw/ro URLs, the PgDog URL, or the raw Services. */}}
{{- define "pgfleet.pooler.notes" -}}
{{- $ := . -}}
{{- $v := .Values -}}
{{- $ns := .Release.Namespace -}}
{{- $db := $v.postgresql.database -}}
{{- $user := $v.auth.appUser -}}
{{- if eq $v.pooler.type "pgbouncer" -}}
Connect through PgBouncer (transaction pooling; port 6432). Per shard:
{{- range $i := until (int $v.shards) }}
  shard {{ $i }}:
    read-write: postgresql://{{ $user }}@{{ include "pgfleet.pgbouncer.name" (dict "root" $ "shard" $i "pool" "rw") }}.{{ $ns }}.svc:6432/{{ $db }}
    read-only:  postgresql://{{ $user }}@{{ include "pgfleet.pgbouncer.name" (dict "root" $ "shard" $i "pool" "ro") }}.{{ $ns }}.svc:6432/{{ $db }}{{ if eq (int $v.replicas) 0 }}  (no replicas: served by the primary){{ end }}
{{- end }}
{{- if ne (include "pgfleet.pgbouncer.clientSslmode" $) "disable" }}
PgBouncer requires TLS: add ?sslmode=verify-full&sslrootcert=ca.crt{{ if not $v.pooler.pgbouncer.clientTLS.existingSecret }}, with the release CA:
  kubectl -n {{ $ns }} get secret {{ include "pgfleet.tls.secret" $ }} -o jsonpath='{.data.ca\.crt}' | base64 -d > ca.crt{{ end }}
{{- end }}
Client pods need the label {{ include "pgfleet.networkPolicy.clientLabel" $ }}: "true" (or a networkPolicy.allowedClients entry).
{{- else if eq $v.pooler.type "pgdog" -}}
Connect through PgDog, which routes across all {{ int $v.shards }} shard(s) (port 6432):
  postgresql://{{ $user }}@{{ include "pgfleet.pgdog.name" $ }}.{{ $ns }}.svc:6432/{{ $db }}
{{- with $v.pooler.pgdog.shardedTables }}
  Sharded tables: {{ range $j, $t := . }}{{ if $j }}, {{ end }}{{ $t.table }}({{ $t.column }}){{ end }}; every other table is the same on every shard.
{{- end }}
Client pods need the label {{ include "pgfleet.networkPolicy.clientLabel" $ }}: "true" (or a networkPolicy.allowedClients entry).
{{- else -}}
No pooler (pooler.type: none): point your own pooler at the endpoints above. It must follow failover by itself
(for PgBouncer: send RECONNECT when a shard's primary changes).
{{- end -}}
{{- end -}}
