{{/*
pgdog.toml. Every shard is listed twice: its -primary Service (role "primary") and, when the shard has standbys,
its -replicas Service (role "replica"); explicit roles, never role = "auto". Secret values are placeholders
`@secret:<file>@` that the init container replaces from Secret-mounted files (files/scripts/render-config.sh).
*/}}
{{- define "pgfleet.pgdog.toml" -}}
{{- $ := . -}}
{{- $v := .Values -}}
{{- $d := $v.pooler.pgdog -}}
{{- $db := $v.postgresql.database -}}
# Rendered by the pgfleet chart for {{ int $v.shards }} shard(s). Secret placeholders are filled at pod start.
[general]
host = "0.0.0.0"
port = 6432
workers = {{ $d.workers }}
default_pool_size = {{ $d.defaultPoolSize }}
min_pool_size = {{ $d.minPoolSize }}
pooler_mode = {{ $d.poolerMode | quote }}
read_write_split = {{ $d.readWriteSplit | quote }}
read_write_strategy = {{ $d.readWriteStrategy | quote }}
load_balancing_strategy = {{ $d.loadBalancingStrategy | quote }}
openmetrics_port = {{ $d.openMetricsPort }}
healthcheck_port = {{ $d.healthcheckPort }}
shutdown_timeout = {{ $d.shutdownTimeout }}
{{- if $v.tls.enabled }}
tls_verify = "verify_full"
tls_server_ca_certificate = "/etc/pgfleet/tls/ca.crt"
{{- else }}
tls_verify = "disabled"
{{- end }}
{{- range $i := until (int $v.shards) }}
{{- $shard := include "pgfleet.shard" (dict "root" $ "shard" $i) }}

[[databases]]
name = {{ $db | quote }}
host = {{ printf "%s-primary" $shard | quote }}
port = 5432
role = "primary"
shard = {{ $i }}
database_name = {{ $db | quote }}
{{- if gt (int $v.replicas) 0 }}

[[databases]]
name = {{ $db | quote }}
host = {{ printf "%s-replicas" $shard | quote }}
port = 5432
role = "replica"
shard = {{ $i }}
database_name = {{ $db | quote }}
{{- end }}
{{- end }}
{{- range $t := $d.shardedTables }}

[[sharded_tables]]
database = {{ default $db $t.database | quote }}
name = {{ $t.table | quote }}
column = {{ $t.column | quote }}
data_type = {{ $t.dataType | quote }}
{{- end }}

[admin]
name = "admin"
user = {{ $v.pooler.adminUser | quote }}
password = "@secret:pooler-admin-password@"
{{- end -}}

{{/* users.toml: the application role and the admin role on the application database; passwords filled at pod start. */}}
{{- define "pgfleet.pgdog.users" -}}
# Rendered by the pgfleet chart. Password placeholders are filled at pod start from the auth Secret.
{{- range $u := list (list .Values.auth.appUser "app-password") (list .Values.auth.adminUser "admin-password") }}

[[users]]
name = {{ index $u 0 | quote }}
database = {{ $.Values.postgresql.database | quote }}
password = "@secret:{{ index $u 1 }}@"
{{- end }}
{{- end -}}

{{/*
Refuses a shard-count change on an installed PgDog release: (dict "root" $ "prior" <ConfigMap or empty dict>)
-> YAML list of messages. The ConfigMap the chart owns records the shard count it was rendered for.
*/}}
{{- define "pgfleet.pgdog.reshardCheck" -}}
{{- $errors := list -}}
{{- $v := .root.Values -}}
{{- $prior := dig "metadata" "annotations" "pgfleet.io/shards" "" (.prior | default dict) -}}
{{- if and $prior (ne (toString $prior) (toString (int $v.shards))) (not $v.pooler.pgdog.allowReshard) -}}
{{- $errors = append $errors (printf "shards: this release routes with PgDog over %s shard(s) and would now get %d: PgDog hashes each sharding key modulo the shard count, so changing it sends existing keys to shards that do not hold their rows. Move the data to the new layout first, then set pooler.pgdog.allowReshard: true for this upgrade" (toString $prior) (int $v.shards)) -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}
