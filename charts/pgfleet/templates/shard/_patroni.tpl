{{/*
patroni.yml of one shard: (dict "root" $ "shard" i). Pod-specific values (name, IP, passwords) come from
PATRONI_* environment variables set by the StatefulSet. Components add their parts through
pgfleet.backup.patroni and pgfleet.pooler.patroni (YAML fragments merged over this base).
*/}}
{{- define "pgfleet.patroni.base" -}}
{{- $ := .root -}}
{{- $v := $.Values -}}
{{- $p := $v.patroni -}}
{{- $scope := include "pgfleet.shard" . -}}
scope: {{ $scope }}
log:
  level: {{ $p.logLevel }}
restapi:
  listen: 0.0.0.0:8008
{{- if eq $p.dcs.type "kubernetes" }}
kubernetes:
  labels:
    {{- include "pgfleet.selectorLabels" (dict "root" $ "component" "database") | nindent 4 }}
  scope_label: cluster-name
  role_label: role
  leader_label_value: primary
  follower_label_value: replica
  standby_leader_label_value: primary
  use_endpoints: false
{{- else }}
etcd3:
  hosts: {{ join "," $p.dcs.etcd3.hosts }}
  protocol: {{ $p.dcs.etcd3.protocol }}
{{- end }}
bootstrap:
  dcs:
    ttl: {{ $p.ttl }}
    loop_wait: {{ $p.loopWait }}
    retry_timeout: {{ $p.retryTimeout }}
    maximum_lag_on_failover: {{ $p.maximumLagOnFailover }}
    {{- if eq $p.synchronousMode "quorum" }}
    synchronous_mode: quorum
    {{- else }}
    synchronous_mode: {{ eq $p.synchronousMode "on" }}
    {{- end }}
    synchronous_mode_strict: {{ $p.synchronousModeStrict }}
    synchronous_node_count: {{ $p.synchronousNodeCount }}
    failsafe_mode: {{ $p.failsafeMode }}
    postgresql:
      use_pg_rewind: {{ $p.usePgRewind }}
      use_slots: true
      parameters:
        {{- toYaml $v.postgresql.parameters | nindent 8 }}
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
  post_bootstrap: /opt/pgfleet/scripts/post-bootstrap.sh
postgresql:
  listen: 0.0.0.0:5432
  data_dir: /var/lib/postgresql/data/pgdata
  pgpass: /tmp/pgpass
  use_unix_socket: true
  authentication:
    superuser:
      username: {{ $v.auth.superuser }}
    replication:
      username: {{ $v.auth.replicationUser }}
      {{- if $v.tls.enabled }}
      sslmode: verify-ca
      sslrootcert: /etc/pgfleet/tls/ca.crt
      {{- end }}
    rewind:
      username: {{ $v.auth.rewindUser }}
      {{- if $v.tls.enabled }}
      sslmode: verify-ca
      sslrootcert: /etc/pgfleet/tls/ca.crt
      {{- end }}
  parameters:
    unix_socket_directories: /var/run/postgresql
    {{- if $v.tls.enabled }}
    ssl: "on"
    ssl_cert_file: /etc/pgfleet/tls/tls.crt
    ssl_key_file: /etc/pgfleet/tls/tls.key
    ssl_ca_file: /etc/pgfleet/tls/ca.crt
    ssl_min_protocol_version: TLSv1.2
    {{- end }}
  {{- $net := ternary "hostssl" "host" $v.tls.enabled }}
  pg_hba:
    - local all all scram-sha-256
    - host all {{ $v.auth.superuser }} 127.0.0.1/32 scram-sha-256
    - host all {{ $v.auth.superuser }} ::1/128 scram-sha-256
    - host all {{ $v.auth.superuser }} all reject
    - {{ $net }} replication {{ $v.auth.replicationUser }} all scram-sha-256
    - {{ $net }} postgres {{ $v.auth.rewindUser }} all scram-sha-256
    {{- range $v.postgresql.extraPgHba }}
    - {{ . | quote }}
    {{- end }}
    - {{ $net }} all all all scram-sha-256
    {{- if $v.tls.enabled }}
    - hostnossl all all all reject
    {{- end }}
  create_replica_methods:
    - basebackup
  basebackup:
    - checkpoint: fast
watchdog:
  mode: "off"
{{- end -}}

{{- define "pgfleet.patroni.config" -}}
{{- $config := include "pgfleet.patroni.base" . | fromYaml -}}
{{- range $part := list "pgfleet.backup.patroni" "pgfleet.pooler.patroni" -}}
{{- $config = mustMergeOverwrite $config (include $part $ | fromYaml) -}}
{{- end -}}
{{- if eq .root.Values.patroni.dcs.type "etcd3" -}}
{{- /* etcd3 writes nothing to Kubernetes: the callback writes the role label the Services select on, then
moves the poolers (files/scripts/patroni-callback.sh); before_stop removes the label before PostgreSQL stops, so a
demoted primary leaves -primary before it starts again read-only (files/scripts/label-role.py). */ -}}
{{- $callback := "/opt/pgfleet/scripts/patroni-callback.sh" -}}
{{- $callbacks := dict "on_start" $callback "on_restart" $callback "on_role_change" $callback -}}
{{- $config = mustMergeOverwrite $config (dict "postgresql" (dict "callbacks" $callbacks "before_stop" "/opt/pgfleet/scripts/label-role.py before_stop")) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}
