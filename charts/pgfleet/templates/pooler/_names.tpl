{{/*
Pooler names. Per-shard names keep their suffix when the base name is long: (dict "root" $ "shard" i "suffix" s)
-> <base>-shard-<i>-<s>, which is <shard>-<s> whenever the release name is short enough (the usual case).
*/}}
{{- define "pgfleet.pooler.shardName" -}}
{{- include "pgfleet.suffixed" (dict "root" .root "suffix" (printf "shard-%d-%s" (int .shard) .suffix)) -}}
{{- end -}}

{{/* PgBouncer Deployment / ConfigMap / Service / PDB of one pool: (dict "root" $ "shard" i "pool" "rw"|"ro") */}}
{{- define "pgfleet.pgbouncer.name" -}}
{{- include "pgfleet.pooler.shardName" (dict "root" .root "shard" .shard "suffix" (printf "pgbouncer-%s" .pool)) -}}
{{- end -}}

{{/* PgBouncer client_tls_sslmode in effect: `auto` follows tls.enabled (require / disable). Takes the root context. */}}
{{- define "pgfleet.pgbouncer.clientSslmode" -}}
{{- $m := .Values.pooler.pgbouncer.clientTLS.sslmode -}}
{{- if eq $m "auto" -}}{{- ternary "require" "disable" .Values.tls.enabled -}}{{- else -}}{{- $m -}}{{- end -}}
{{- end -}}

{{/* Headless Service resolving every PgBouncer pod of a shard (both pools): (dict "root" $ "shard" i) */}}
{{- define "pgfleet.pgbouncer.headless" -}}
{{- include "pgfleet.pooler.shardName" (dict "root" .root "shard" .shard "suffix" "pgbouncer-headless") -}}
{{- end -}}

{{- define "pgfleet.pgdog.name" -}}
{{- include "pgfleet.suffixed" (dict "root" . "suffix" "pgdog") -}}
{{- end -}}

{{- define "pgfleet.pgdog.headless" -}}
{{- include "pgfleet.suffixed" (dict "root" . "suffix" "pgdog-headless") -}}
{{- end -}}

{{/* Secret with the pooler-local admin and stats passwords: pooler.existingSecret, else auth.existingSecret, else generated. */}}
{{- define "pgfleet.pooler.secret" -}}
{{- coalesce .Values.pooler.existingSecret .Values.auth.existingSecret (include "pgfleet.suffixed" (dict "root" . "suffix" "pooler")) -}}
{{- end -}}

{{/* Database host behind a pool: (dict "root" $ "shard" i "pool" "rw"|"ro"). ro falls back to the primary without replicas. */}}
{{- define "pgfleet.pgbouncer.target" -}}
{{- $shard := include "pgfleet.shard" (dict "root" .root "shard" .shard) -}}
{{- if and (eq .pool "ro") (gt (int .root.Values.replicas) 0) -}}
{{- printf "%s-replicas" $shard -}}
{{- else -}}
{{- printf "%s-primary" $shard -}}
{{- end -}}
{{- end -}}

{{/* Databases the poolers serve: the application database and postgres (both carry pgfleet.user_lookup). */}}
{{- define "pgfleet.pooler.databases" -}}
{{- toYaml (uniq (list .Values.postgresql.database "postgres")) -}}
{{- end -}}

{{/* Pooler pod affinity: (dict "root" $ "selector" <map>) */}}
{{- define "pgfleet.pooler.affinity" -}}
{{- $mode := .root.Values.pooler.podAntiAffinity -}}
{{- if ne $mode "none" -}}
podAntiAffinity:
  {{- if eq $mode "hard" }}
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- toYaml .selector | nindent 10 }}
  {{- else }}
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- toYaml .selector | nindent 12 }}
  {{- end }}
{{- end -}}
{{- end -}}
