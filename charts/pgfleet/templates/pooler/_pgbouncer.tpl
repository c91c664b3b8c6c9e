{{/*
pgbouncer.ini of one pool: (dict "root" $ "shard" i "pool" "rw"|"ro").
Paths are the container's; a local runner rewrites only paths, listen address and hosts.
*/}}
{{- define "pgfleet.pgbouncer.ini" -}}
{{- $v := .root.Values -}}
{{- $b := $v.pooler.pgbouncer -}}
{{- $target := include "pgfleet.pgbouncer.target" . -}}
;; {{ include "pgfleet.pgbouncer.name" . }}: {{ ternary "read-write pool -> the shard's primary" "read-only pool -> the shard's replicas" (eq .pool "rw") }}
;; Rendered by the pgfleet chart; passwords live in the auth_file written at pod start from Secrets.
[databases]
{{- range $db := include "pgfleet.pooler.databases" .root | fromYamlArray }}
{{ $db }} = host={{ $target }} port=5432 dbname={{ $db }}
{{- end }}

[pgbouncer]
listen_addr = *
listen_port = 6432
unix_socket_dir =
auth_type = scram-sha-256
auth_file = /etc/pgbouncer/auth/userlist.txt
auth_user = {{ $v.auth.poolerUser }}
auth_query = SELECT uname, phash FROM pgfleet.user_lookup($1)
admin_users = {{ $v.pooler.adminUser }}
stats_users = {{ $v.pooler.statsUser }}
pool_mode = {{ $b.poolMode }}
max_client_conn = {{ $b.maxClientConn }}
default_pool_size = {{ $b.defaultPoolSize }}
min_pool_size = {{ $b.minPoolSize }}
reserve_pool_size = {{ $b.reservePoolSize }}
reserve_pool_timeout = {{ $b.reservePoolTimeout }}
max_db_connections = {{ $b.maxDbConnections }}
server_lifetime = {{ $b.serverLifetime }}
server_idle_timeout = {{ $b.serverIdleTimeout }}
server_login_retry = {{ $b.serverLoginRetry }}
server_connect_timeout = {{ $b.serverConnectTimeout }}
server_reset_query = DISCARD ALL
query_wait_timeout = {{ $b.queryWaitTimeout }}
client_idle_timeout = {{ $b.clientIdleTimeout }}
ignore_startup_parameters = {{ join "," $b.ignoreStartupParameters }}
{{- if not (kindIs "invalid" $b.maxPreparedStatements) }}
max_prepared_statements = {{ $b.maxPreparedStatements }}
{{- end }}
application_name_add_host = {{ ternary 1 0 $b.applicationNameAddHost }}
tcp_keepalive = 1
dns_max_ttl = 15
log_connections = {{ ternary 1 0 $b.logConnections }}
log_disconnections = {{ ternary 1 0 $b.logConnections }}
log_pooler_errors = 1
stats_period = 60
{{- if $v.tls.enabled }}
server_tls_sslmode = {{ $b.serverTLSSslmode }}
server_tls_ca_file = /etc/pgfleet/tls/ca.crt
server_tls_protocols = secure
{{- else }}
server_tls_sslmode = disable
{{- end }}
{{- $clientTLS := include "pgfleet.pgbouncer.clientSslmode" .root }}
client_tls_sslmode = {{ $clientTLS }}
{{- if ne $clientTLS "disable" }}
client_tls_cert_file = /etc/pgbouncer/client-tls/tls.crt
client_tls_key_file = /etc/pgbouncer/client-tls/tls.key
client_tls_protocols = secure
{{- end }}
{{- end -}}
