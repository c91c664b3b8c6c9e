{{/* Pooler cross-field rules: a YAML list of messages, each starting with the values path. */}}
{{- define "pgfleet.validate.pooler" -}}
{{- $errors := list -}}
{{- $v := .Values -}}
{{- $p := $v.pooler -}}
{{- $b := $p.pgbouncer -}}
{{- $d := $p.pgdog -}}
{{- /* Pooler-local roles live in the pooler's auth_file, which wins over auth_query: never shadow a database role. */ -}}
{{- $dbRoles := list $v.auth.superuser $v.auth.replicationUser $v.auth.rewindUser $v.auth.adminUser $v.auth.appUser $v.auth.poolerUser -}}
{{- if $v.monitoring.enabled }}{{ $dbRoles = append $dbRoles $v.auth.monitorUser }}{{ end -}}
{{- range $key := list "adminUser" "statsUser" -}}
{{- $role := index $p $key -}}
{{- if has $role $dbRoles -}}
{{- $errors = append $errors (printf "pooler.%s: %q is also a database role (auth.*); the pooler's own roles must have distinct names, or the pooler would authenticate that database role with the pooler password" $key $role) -}}
{{- end -}}
{{- end -}}
{{- if eq $p.adminUser $p.statsUser -}}
{{- $errors = append $errors (printf "pooler.statsUser: must differ from pooler.adminUser (both %q)" $p.adminUser) -}}
{{- end -}}
{{- with include "pgfleet.validate.poolerConnections" . -}}
{{- $errors = append $errors . -}}
{{- end -}}
{{- if eq $p.type "pgbouncer" -}}
{{- if gt (int $b.minPoolSize) (int $b.defaultPoolSize) -}}
{{- $errors = append $errors (printf "pooler.pgbouncer.minPoolSize: %d is more than defaultPoolSize %d" (int $b.minPoolSize) (int $b.defaultPoolSize)) -}}
{{- end -}}
{{- if and (not (has $b.clientTLS.sslmode (list "auto" "disable"))) (not $b.clientTLS.existingSecret) (not $v.tls.enabled) -}}
{{- $errors = append $errors (printf "pooler.pgbouncer.clientTLS.existingSecret: required when pooler.pgbouncer.clientTLS.sslmode is %q and tls.enabled is false (there is no release certificate to serve)" $b.clientTLS.sslmode) -}}
{{- end -}}
{{- if and (not (kindIs "invalid" $b.maxPreparedStatements)) (gt (int $b.maxPreparedStatements) 0) (ne $b.poolMode "transaction") -}}
{{- $errors = append $errors (printf "pooler.pgbouncer.maxPreparedStatements: only matters with poolMode transaction (got %q); remove it" $b.poolMode) -}}
{{- end -}}
{{- end -}}
{{- if and (ne $p.type "pgdog") $d.shardedTables -}}
{{- $errors = append $errors (printf "pooler.pgdog.shardedTables: only PgDog routes by sharding key, but pooler.type is %q; set pooler.type: pgdog or remove the sharded tables" $p.type) -}}
{{- end -}}
{{- if eq $p.type "pgdog" -}}
{{- $seen := dict -}}
{{- range $i, $t := $d.shardedTables -}}
{{- $db := default $v.postgresql.database $t.database -}}
{{- if ne $db $v.postgresql.database -}}
{{- $errors = append $errors (printf "pooler.pgdog.shardedTables[%d].database: %q is not served by PgDog, which routes only postgresql.database (%q)" $i $db $v.postgresql.database) -}}
{{- end -}}
{{- $key := printf "%s.%s" $db $t.table -}}
{{- if hasKey $seen $key -}}
{{- $errors = append $errors (printf "pooler.pgdog.shardedTables[%d].table: %q is already listed at index %d; a table has one sharding key" $i $key (index $seen $key)) -}}
{{- end -}}
{{- $_ := set $seen $key $i -}}
{{- end -}}
{{- if and (eq $d.readWriteSplit "exclude_primary") (eq (int $v.replicas) 0) -}}
{{- $errors = append $errors "pooler.pgdog.readWriteSplit: exclude_primary sends reads only to replicas, but replicas is 0; use include_primary" -}}
{{- end -}}
{{- if eq (int $d.openMetricsPort) (int $d.healthcheckPort) -}}
{{- $errors = append $errors (printf "pooler.pgdog.healthcheckPort: %d is also pooler.pgdog.openMetricsPort" (int $d.healthcheckPort)) -}}
{{- end -}}
{{- $prior := lookup "v1" "ConfigMap" .Release.Namespace (include "pgfleet.pgdog.name" .) -}}
{{- $errors = concat $errors (include "pgfleet.pgdog.reshardCheck" (dict "root" . "prior" $prior) | fromYamlArray) -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}

{{/*
max_connections against the server connections the poolers may open to one database host, plus the superuser's
reserved slots and the chart's own clients (Patroni, postgres_exporter, pgBackRest, pg_rewind or pg_basebackup, helm test):
"" or a failure message. PgBouncer: the read-write and the read-only pool, each min(defaultPoolSize + reservePoolSize,
maxDbConnections) per pod, times the pods (right after a failover one host can hold both). PgDog: defaultPoolSize per
pod for the application role, times the pods.
*/}}
{{- define "pgfleet.validate.poolerConnections" -}}
{{- $v := .Values -}}
{{- $pp := $v.postgresql.parameters -}}
{{- $max := int (default 100 $pp.max_connections) -}}
{{- $reservedPg := int (default 3 $pp.superuser_reserved_connections) -}}
{{- $own := 5 -}}
{{- $pools := 0 -}}
{{- $how := "" -}}
{{- if eq $v.pooler.type "pgbouncer" -}}
{{- $b := $v.pooler.pgbouncer -}}
{{- $perPod := add $b.defaultPoolSize $b.reservePoolSize -}}
{{- if gt (int $b.maxDbConnections) 0 }}{{ $perPod = min $perPod $b.maxDbConnections }}{{ end -}}
{{- $pools = mul 2 $perPod $b.replicas -}}
{{- $how = printf "the PgBouncer read-write and read-only pools, 2 x %d per pod (pooler.pgbouncer.defaultPoolSize %d + reservePoolSize %d%s) x %d pods" (int $perPod) (int $b.defaultPoolSize) (int $b.reservePoolSize) (ternary (printf ", capped by maxDbConnections %d" (int $b.maxDbConnections)) "" (gt (int $b.maxDbConnections) 0)) (int $b.replicas) -}}
{{- else if eq $v.pooler.type "pgdog" -}}
{{- $d := $v.pooler.pgdog -}}
{{- $pools = mul $d.defaultPoolSize $d.replicas -}}
{{- $how = printf "the PgDog pool, pooler.pgdog.defaultPoolSize %d x %d pods" (int $d.defaultPoolSize) (int $d.replicas) -}}
{{- end -}}
{{- $need := add $pools $reservedPg $own -}}
{{- if gt (int $need) $max -}}
{{- printf "postgresql.parameters.max_connections: %d is fewer than the %d connections one database host may have to serve: %s = %d, + %d superuser_reserved_connections, + %d for the chart's own clients; lower the pool sizes or the pooler replicas, set pooler.pgbouncer.maxDbConnections, or raise max_connections" $max (int $need) $how (int $pools) (int $reservedPg) $own -}}
{{- end -}}
{{- end -}}
