{{/*
Cross-field rules that JSON Schema cannot express. Every message starts with the values path at fault.
Rendered (for its side effect only) by templates/validate.yaml.
*/}}
{{- define "pgfleet.validate" -}}
{{- $v := .Values -}}
{{- $p := $v.patroni -}}
{{- if $v.auth.existingSecret -}}
{{- $data := (lookup "v1" "Secret" .Release.Namespace $v.auth.existingSecret).data -}}
{{- if $data -}}
{{- $missing := list -}}
{{- range $key := include "pgfleet.requiredAuthKeys" . | splitList " " -}}
{{- if not (hasKey $data $key) }}{{ $missing = append $missing $key }}{{ end -}}
{{- end -}}
{{- if $missing -}}
{{- fail (printf "auth.existingSecret: Secret %q has no %s; add the missing keys (random passwords) before installing or upgrading: the database pods would not start" $v.auth.existingSecret (join ", " $missing)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if lt (int64 $p.readinessMaxLag) (int64 $p.maximumLagOnFailover) -}}
{{- fail (printf "patroni.readinessMaxLag: %d is below patroni.maximumLagOnFailover: %d: a replica Patroni may promote would be out of -replicas" (int64 $p.readinessMaxLag) (int64 $p.maximumLagOnFailover)) -}}
{{- end -}}
{{- if gt (add $p.loopWait (mul 2 $p.retryTimeout)) (int $p.ttl) -}}
{{- fail (printf "patroni.loopWait + 2 * patroni.retryTimeout must be <= patroni.ttl (got %d + 2 * %d = %d > %d): Patroni would silently rewrite these timings" (int $p.loopWait) (int $p.retryTimeout) (int (add $p.loopWait (mul 2 $p.retryTimeout))) (int $p.ttl)) -}}
{{- end -}}
{{- if and (ne $p.synchronousMode "off") (lt (int $v.replicas) 1) -}}
{{- fail (printf "patroni.synchronousMode: %q needs replicas >= 1 (got replicas: %d): a synchronous standby must exist" $p.synchronousMode (int $v.replicas)) -}}
{{- end -}}
{{- if and (ne $p.synchronousMode "off") (gt (int $p.synchronousNodeCount) (int $v.replicas)) -}}
{{- fail (printf "patroni.synchronousNodeCount: %d is more than replicas: %d" (int $p.synchronousNodeCount) (int $v.replicas)) -}}
{{- end -}}
{{- if and $p.synchronousModeStrict (eq $p.synchronousMode "off") -}}
{{- fail "patroni.synchronousModeStrict: true has no effect with patroni.synchronousMode: \"off\"" -}}
{{- end -}}
{{- if and (eq $p.dcs.type "etcd3") (empty $p.dcs.etcd3.hosts) -}}
{{- fail "patroni.dcs.etcd3.hosts: must list at least one host:port when patroni.dcs.type is \"etcd3\"" -}}
{{- end -}}
{{- $t := $v.tls -}}
{{- if and $t.enabled (eq $t.provider "existingSecret") (not $t.existingSecret) -}}
{{- fail "tls.existingSecret: required when tls.provider is \"existingSecret\"" -}}
{{- end -}}
{{- if and $t.enabled (eq $t.provider "cert-manager") (not $t.certManager.issuerRef.name) -}}
{{- fail "tls.certManager.issuerRef.name: required when tls.provider is \"cert-manager\"" -}}
{{- end -}}
{{- range $key, $_ := $v.postgresql.parameters -}}
{{- if has $key (list "archive_command" "archive_mode" "restore_command" "listen_addresses" "port" "unix_socket_directories" "hba_file" "ident_file" "data_directory" "config_file" "ssl" "ssl_cert_file" "ssl_key_file" "ssl_ca_file" "primary_conninfo" "primary_slot_name" "synchronous_standby_names" "cluster_name" "hot_standby") -}}
{{- fail (printf "postgresql.parameters.%s: managed by the chart (Patroni, TLS and backup settings); remove it" $key) -}}
{{- end -}}
{{- end -}}
{{- with $v.postgresql.parameters.password_encryption -}}
{{- if ne . "scram-sha-256" -}}
{{- fail (printf "postgresql.parameters.password_encryption: only scram-sha-256 is allowed (got %q)" .) -}}
{{- end -}}
{{- end -}}
{{- range $n, $line := $v.postgresql.extraPgHba -}}
{{- $f := regexSplit "\\s+" (trim $line) -1 -}}
{{- $at := ternary 3 4 (eq (index $f 0) "local") -}}
{{- if and (gt (len $f) (add $at 1)) (regexMatch "^[0-9.]+$" (index $f $at)) -}}{{- $at = add $at 1 -}}{{- end -}}
{{- $method := "" -}}
{{- if gt (len $f) (int $at) }}{{ $method = index $f (int $at) }}{{ end -}}
{{- if not (has $method (list "scram-sha-256" "cert" "reject" "peer")) -}}
{{- fail (printf "postgresql.extraPgHba[%d]: method %q is refused (use scram-sha-256, cert, peer or reject): %q" $n $method $line) -}}
{{- end -}}
{{- end -}}
{{- $users := list $v.auth.superuser $v.auth.replicationUser $v.auth.rewindUser $v.auth.adminUser $v.auth.appUser $v.auth.poolerUser -}}
{{- if ne (len $users) (len (uniq $users)) -}}
{{- fail (printf "auth: superuser, replicationUser, rewindUser, adminUser, appUser and poolerUser must all differ (got %s)" (join ", " $users)) -}}
{{- end -}}
{{- range $extra := (include "pgfleet.validate.extra" . | fromYamlArray) -}}
{{- fail $extra -}}
{{- end -}}
{{- end -}}

{{/* Hook for component rules (pooler, backups): a YAML list of failure messages. */}}
{{- define "pgfleet.validate.extra" -}}
{{- $errors := list -}}
{{- range $name := list "pgfleet.validate.pooler" "pgfleet.validate.backups" "pgfleet.validate.monitoring" -}}
{{- $errors = concat $errors (include $name $ | fromYamlArray) -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}
