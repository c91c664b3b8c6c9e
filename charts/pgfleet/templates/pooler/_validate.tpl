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
{{- if eq $p.type "pgbouncer" -}}
{{- $perPod := add $b.defaultPoolSize $b.reservePoolSize -}}
{{- if gt (int $b.maxDbConnections) 0 -}}{{- $perPod = min $perPod $b.maxDbConnections -}}{{- end -}}
{{- $total := mul $perPod $b.replicas -}}
{{- $max := int (default 100 $v.postgresql.parameters.max_connections) -}}
{{- if gt (int $total) (int (sub $max 10)) -}}
{{- $errors = append $errors (printf "pooler.pgbouncer.defaultPoolSize: (defaultPoolSize %d + reservePoolSize %d) x replicas %d = %d server connections per database from the read-write pool alone, more than postgresql.parameters.max_connections %d minus 10 reserved; lower the pool sizes, set pooler.pgbouncer.maxDbConnections, or raise max_connections" (int $b.defaultPoolSize) (int $b.reservePoolSize) (int $b.replicas) (int $total) $max) -}}
{{- end -}}
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
