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
{{- range $key := include "pgfleet.auth.requiredKeys" . | splitList " " -}}
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
{{- $users := list $v.auth.superuser $v.auth.replicationUser $v.auth.rewindUser $v.auth.adminUser $v.auth.appUser $v.auth.poolerUser -}}
{{- if ne (len $users) (len (uniq $users)) -}}
{{- fail (printf "auth: superuser, replicationUser, rewindUser, adminUser, appUser and poolerUser must all differ (got %s)" (join ", " $users)) -}}
{{- end -}}
{{- with (include "pgfleet.validate.extra" . | fromYamlArray) -}}
{{- fail (join "\n" .) -}}
{{- end -}}
{{- end -}}

{{/* Hook for component rules (pooler, backups): a YAML list of failure messages. */}}
{{- define "pgfleet.validate.extra" -}}
{{- $errors := list -}}
{{- range $name := list "pgfleet.validate.roles" "pgfleet.validate.labels" "pgfleet.validate.resources" "pgfleet.validate.network" "pgfleet.validate.parameters" "pgfleet.validate.pgHba" "pgfleet.validate.pooler" "pgfleet.validate.backups" "pgfleet.validate.monitoring" "pgfleet.validate.offline" -}}
{{- $errors = concat $errors (include $name $ | fromYamlArray) -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}

{{/*
postgresql.extraPgHba, read as PostgreSQL reads pg_hba.conf (fields split on blanks, comma lists; the schema already
refuses quotes, `#`, `@file` and line breaks): a YAML list of failure messages. Network lines are hostssl with
scram-sha-256, cert or reject while TLS is on (host without TLS); local lines use scram-sha-256, peer or reject;
no line admits the superuser over the network, and no replication line admits every role.
*/}}
{{- define "pgfleet.validate.pgHba" -}}
{{- $v := .Values -}}
{{- $errors := list -}}
{{- $net := ternary "hostssl" "host" $v.tls.enabled -}}
{{- range $n, $line := $v.postgresql.extraPgHba -}}
{{- $at := printf "postgresql.extraPgHba[%d]" $n -}}
{{- $f := regexSplit "[ \t]+" (trim $line) -1 -}}
{{- $type := index $f 0 -}}
{{- $local := eq $type "local" -}}
{{- if not (or $local (eq $type $net)) -}}
{{- $errors = append $errors (printf "%s: connection type %q is refused: network lines must be %s (TLS %s): %q" $at $type $net (ternary "on" "off" $v.tls.enabled) $line) -}}
{{- else if lt (len $f) (ternary 4 5 $local) -}}
{{- $errors = append $errors (printf "%s: too few fields (type, database, user,%s method): %q" $at (ternary "" " address," $local) $line) -}}
{{- else -}}
{{- $dbs := splitList "," (index $f 1) -}}
{{- $users := splitList "," (index $f 2) -}}
{{- $m := 3 -}}
{{- if not $local -}}
{{- $m = 4 -}}
{{- if regexMatch "^[0-9.]+$" (index $f 3) -}}
{{- if or (le (len $f) 5) (not (regexMatch "^[0-9]+(\\.[0-9]+){3}$" (index $f 4))) -}}
{{- $errors = append $errors (printf "%s: address %q needs a /prefix or a netmask: %q" $at (index $f 3) $line) -}}
{{- end -}}
{{- $m = 5 -}}
{{- end -}}
{{- if has $v.auth.superuser $users -}}
{{- $errors = append $errors (printf "%s: admits the superuser %q over the network: %q" $at $v.auth.superuser $line) -}}
{{- end -}}
{{- if and (has "replication" $dbs) (has "all" $users) -}}
{{- $errors = append $errors (printf "%s: a replication line for all users admits the superuser too; name the roles: %q" $at $line) -}}
{{- end -}}
{{- end -}}
{{- $method := "" -}}
{{- if gt (len $f) $m }}{{ $method = index $f $m }}{{ end -}}
{{- $methods := ternary (list "scram-sha-256" "peer" "reject") (ternary (list "scram-sha-256" "cert" "reject") (list "scram-sha-256" "reject") $v.tls.enabled) $local -}}
{{- if not (has $method $methods) -}}
{{- $errors = append $errors (printf "%s: method %q is refused on a %s line (use %s): %q" $at $method $type (join ", " $methods) $line) -}}
{{- end -}}
{{- range $opt := slice $f (min (len $f) (add $m 1)) -}}
{{- if not (or (regexMatch "^map=[a-z_][a-z0-9_]*$" $opt) (and (not $local) $v.tls.enabled (regexMatch "^clientcert=verify-(ca|full)$" $opt))) -}}
{{- $errors = append $errors (printf "%s: option %q is refused (map=<name>%s): %q" $at $opt (ternary ", clientcert=verify-ca or verify-full" "" (and (not $local) $v.tls.enabled)) $line) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}

{{/*
Role names the chart creates, or writes unquoted into pg_hba.conf, or the poolers use: never PostgreSQL's built-in
`pg_*` roles, a role-spec keyword, or a pg_hba keyword that would widen a line (a replication user named `all`).
Keep the list equal to RESERVED_ROLES in schema/dsl.ts (a render test checks it).
*/}}
{{- define "pgfleet.validate.roles" -}}
{{- $errors := list -}}
{{- $reserved := list "public" "none" "current_role" "current_user" "session_user" "all" "sameuser" "samerole" "samegroup" "replication" -}}
{{- $roles := dict -}}
{{- range $key := list "superuser" "replicationUser" "rewindUser" "adminUser" "appUser" "poolerUser" "monitorUser" -}}
{{- $_ := set $roles (printf "auth.%s" $key) (index $.Values.auth $key) -}}
{{- end -}}
{{- range $key := list "adminUser" "statsUser" -}}
{{- $_ := set $roles (printf "pooler.%s" $key) (index $.Values.pooler $key) -}}
{{- end -}}
{{- range $key := keys $roles | sortAlpha -}}
{{- $name := index $roles $key -}}
{{- if hasPrefix "pg_" $name -}}
{{- $errors = append $errors (printf "%s: %q is reserved: names beginning with pg_ belong to PostgreSQL's built-in roles" $key $name) -}}
{{- else if has $name $reserved -}}
{{- $errors = append $errors (printf "%s: %q is a reserved word in role specifications or pg_hba.conf (%s)" $key $name (join ", " $reserved)) -}}
{{- end -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}

{{/*
A PostgreSQL setting's value in its base unit, bytes or milliseconds: (dict "value" v "unit" u), v a plain number in
the setting's unit u (`8kB`, `kB`, `MB`, `B`, `ms`, `s`, `min`, or "" for a unitless setting) or text with a number and
optionally PostgreSQL's own unit (`256MB`, `1.5 GB`, `30s`). The schema has checked the grammar.
*/}}
{{- define "pgfleet.postgresql.unitBase" -}}
{{- $number := "^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?) ?([a-zA-Z]*)$" -}}
{{- $v := toString .value | trim -}}
{{- $per := dict "" 1 "B" 1 "kB" 1024 "8kB" 8192 "MB" 1048576 "16MB" 16777216 "GB" 1073741824 "TB" 1099511627776 "us" 0.001 "ms" 1 "s" 1000 "min" 60000 "h" 3600000 "d" 86400000 -}}
{{- mulf (regexReplaceAll $number $v "${1}" | float64) (index $per (regexReplaceAll $number $v "${4}" | default .unit)) -}}
{{- end -}}

{{/* A PostgreSQL memory setting in whole MiB (truncated): pgfleet.postgresql.unitBase's arguments. */}}
{{- define "pgfleet.postgresql.memMiB" -}}
{{- divf (include "pgfleet.postgresql.unitBase" . | float64) 1048576 | int64 -}}
{{- end -}}

{{/*
postgresql.parameters that contradict the rest of the values (the schema checked each one against PostgreSQL 15's
own table): a YAML list of failure messages.
*/}}
{{- define "pgfleet.validate.parameters" -}}
{{- $v := .Values -}}
{{- $p := $v.postgresql.parameters -}}
{{- $errors := list -}}
{{- /* values written as text: converted to the setting's unit as PostgreSQL does (integers rounded), then bounded */ -}}
{{- $bounds := (.Files.Get "files/pg-bounds.json" | fromJson).settings -}}
{{- range $key := keys $p | sortAlpha -}}
{{- $text := index $p $key -}}
{{- $b := index $bounds $key -}}
{{- if and $b (kindIs "string" $text) -}}
{{- $value := divf (include "pgfleet.postgresql.unitBase" (dict "value" $text "unit" $b.unit) | float64) (include "pgfleet.postgresql.unitBase" (dict "value" 1 "unit" $b.unit) | float64) -}}
{{- if $b.integer }}{{ $value = round $value 0 }}{{ end -}}
{{- if or (lt $value (float64 $b.min)) (gt $value (float64 $b.max)) -}}
{{- $f := ternary "%.0f" "%g" $b.integer -}}
{{- $u := ternary (printf " %s" $b.unit) "" (ne $b.unit "") -}}
{{- $errors = append $errors (printf "postgresql.parameters.%s: %q is %s%s, outside PostgreSQL 15's range %s to %s%s; PostgreSQL would refuse to start" $key $text (printf $f $value) $u (printf $f (float64 $b.min)) (printf $f (float64 $b.max)) $u) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (ne $v.patroni.synchronousMode "off") (hasKey $p "synchronous_commit") (has (toString $p.synchronous_commit) (list "off" "local" "false")) -}}
{{- $errors = append $errors (printf "postgresql.parameters.synchronous_commit: %q acknowledges a commit before the synchronous standby has it, so a failover under patroni.synchronousMode %q loses acknowledged writes; remove it (on), or use remote_write or remote_apply" (toString $p.synchronous_commit) $v.patroni.synchronousMode) -}}
{{- end -}}
{{- /* every replica holds a walsender and a slot on the primary; a rebuild (pg_basebackup) streams with two more, a backup one */ -}}
{{- $need := add (int $v.replicas) 2 (ternary 1 0 $v.backups.enabled) -}}
{{- range $key := list "max_wal_senders" "max_replication_slots" -}}
{{- if and (hasKey $p $key) (lt (int (index $p $key)) (int $need)) -}}
{{- $errors = append $errors (printf "postgresql.parameters.%s: %v is fewer than the %d this shard needs (replicas %d + 2 for a replica rebuild%s); raise it" $key (index $p $key) $need (int $v.replicas) (ternary " + 1 for backups" "" $v.backups.enabled)) -}}
{{- end -}}
{{- end -}}
{{- with $v.resources.limits -}}
{{- if and .memory (hasKey $p "shared_buffers") -}}
{{- $buffers := include "pgfleet.postgresql.memMiB" (dict "value" $p.shared_buffers "unit" "8kB") | int64 -}}
{{- $limit := include "pgfleet.quantityMiB" .memory | int64 -}}
{{- if gt (mul $buffers 2) $limit -}}
{{- $errors = append $errors (printf "postgresql.parameters.shared_buffers: %v (%d MiB) is more than half of resources.limits.memory %v (%d MiB); backends, work_mem and maintenance need the rest, or the container is OOM-killed under load" $p.shared_buffers $buffers .memory $limit) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $volume := include "pgfleet.quantityMiB" $v.storage.size | int64 -}}
{{- $keep := 0 -}}
{{- with $p.wal_keep_size }}{{ $keep = include "pgfleet.postgresql.memMiB" (dict "value" . "unit" "MB") | int64 }}{{ end -}}
{{- $slots := 0 -}}
{{- if hasKey $p "max_slot_wal_keep_size" }}{{ $slots = include "pgfleet.postgresql.memMiB" (dict "value" $p.max_slot_wal_keep_size "unit" "MB") | int64 }}{{ end -}}
{{- if gt (mul (add $keep (max $slots 0)) 2) $volume -}}
{{- $errors = append $errors (printf "postgresql.parameters: wal_keep_size (%d MiB)%s may keep more than half of storage.size %v (%d MiB) in pg_wal; the data needs the rest, or the volume fills and the primary stops" $keep (ternary (printf " + max_slot_wal_keep_size (%d MiB)" $slots) "" (gt $slots 0)) $v.storage.size $volume) -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}

{{/*
Container resources: a request above its limit (the API server would refuse the pod, or the Deployment would never
roll out): a YAML list of failure messages.
*/}}
{{- define "pgfleet.validate.resources" -}}
{{- $v := .Values -}}
{{- $errors := list -}}
{{- $all := dict "resources" $v.resources "pooler.pgbouncer.resources" $v.pooler.pgbouncer.resources "pooler.pgdog.resources" $v.pooler.pgdog.resources "monitoring.exporter.resources" $v.monitoring.exporter.resources "backups.job.resources" $v.backups.job.resources "backups.server.resources" $v.backups.server.resources "backups.verify.resources" $v.backups.verify.resources -}}
{{- range $path := keys $all | sortAlpha -}}
{{- $r := index $all $path -}}
{{- range $name, $request := $r.requests -}}
{{- $limit := index ($r.limits | default dict) $name -}}
{{- if and (not (kindIs "invalid" $limit)) (gt (include "pgfleet.quantity" $request | float64) (include "pgfleet.quantity" $limit | float64)) -}}
{{- $errors = append $errors (printf "%s.requests.%s: %v is more than %s.limits.%s %v (the API server refuses such a pod)" $path $name $request $path $name $limit) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}

{{/*
Network setups that expose more than the chart would, refused unless networkPolicy.acknowledge says otherwise: a YAML
list of failure messages.
*/}}
{{- define "pgfleet.validate.network" -}}
{{- $v := .Values -}}
{{- $np := $v.networkPolicy -}}
{{- $ack := $np.acknowledge -}}
{{- $m := $v.monitoring -}}
{{- $errors := list -}}
{{- if and (not $np.enabled) $np.allowedClients (not $ack.unenforcedAllowedClients) -}}
{{- $errors = append $errors "networkPolicy.allowedClients: set while networkPolicy.enabled is false, so nothing enforces it and every pod can connect; enable networkPolicy, remove allowedClients, or set networkPolicy.acknowledge.unenforcedAllowedClients: true" -}}
{{- end -}}
{{- if not $ack.allowAllPeers -}}
{{- $peers := dict "networkPolicy.allowedClients" $np.allowedClients "monitoring.prometheusSelector" $m.prometheusSelector -}}
{{- range $path := keys $peers | sortAlpha -}}
{{- range $i, $peer := index $peers $path -}}
{{- $ns := $peer.namespaceSelector -}}
{{- $everyNamespace := and (not (kindIs "invalid" $ns)) (empty $ns) (empty $peer.podSelector) -}}
{{- $everyAddress := and $peer.ipBlock (has $peer.ipBlock.cidr (list "0.0.0.0/0" "::/0")) -}}
{{- if or $everyNamespace $everyAddress -}}
{{- $errors = append $errors (printf "%s[%d]: %s admits %s; name the namespaces, pods or addresses, or set networkPolicy.acknowledge.allowAllPeers: true" $path $i (toJson $peer) (ternary "every pod of every namespace" "every address" $everyNamespace)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (not $np.enabled) (not $ack.exposedWithoutPolicy) -}}
{{- $types := dict "service.type" $v.service.type -}}
{{- if ne $v.pooler.type "none" }}{{ $_ := set $types "pooler.service.type" $v.pooler.service.type }}{{ end -}}
{{- range $path, $type := $types -}}
{{- if ne $type "ClusterIP" -}}
{{- $errors = append $errors (printf "%s: %s while networkPolicy.enabled is false opens the port to whatever reaches the nodes or the load balancer; enable networkPolicy (and list the clients in networkPolicy.allowedClients), or set networkPolicy.acknowledge.exposedWithoutPolicy: true" $path $type) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $np.enabled $m.podMonitor.enabled (not $m.prometheusSelector) (not $ack.blockedScrapes) -}}
{{- $errors = append $errors "monitoring.prometheusSelector: empty while monitoring.podMonitor.enabled and networkPolicy.enabled: the policies drop every scrape, so no metric and no alert would ever arrive; list your Prometheus as a NetworkPolicyPeer, or set networkPolicy.acknowledge.blockedScrapes: true (Prometheus on the host network)" -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}

{{/*
User labels that would shadow a label the chart, Patroni or the NetworkPolicies select on: the selector labels
(app.kubernetes.io/name, instance, component and every pgfleet.io/ key), Patroni's `role` and `cluster-name` (the
-primary and -replicas Services), the client label the policies admit, and the chart's other recommended labels. A
`role: primary` in podLabels would put every database pod behind -primary. A YAML list of failure messages.
*/}}
{{/*
offlineRender: renders without cluster access (Argo CD, helm template | kubectl apply) get nothing from lookup, so
whatever the chart generates would change on every render, and Helm-only hooks would be ignored or applied as
ordinary objects. Each such setting is refused with the value to set instead: a YAML list of failure messages.
*/}}
{{- define "pgfleet.validate.offline" -}}
{{- $v := .Values -}}
{{- $errors := list -}}
{{- if $v.offlineRender -}}
{{- $why := "with offlineRender: true nothing can read back what an earlier render generated" -}}
{{- if not $v.auth.existingSecret -}}
{{- $keys := include "pgfleet.auth.requiredKeys" . | splitList " " -}}
{{- if and (ne $v.pooler.type "none") (not $v.pooler.existingSecret) }}{{ $keys = concat $keys (list "pooler-admin-password" "pooler-stats-password") }}{{ end -}}
{{- $errors = append $errors (printf "auth.existingSecret: required, %s: new passwords on every render would break replication and the poolers at the next pod restart; create a Secret with %s (random strings) and name it here" $why (join ", " $keys)) -}}
{{- end -}}
{{- if and $v.tls.enabled (eq $v.tls.provider "helm") -}}
{{- $errors = append $errors (printf "tls.provider: \"helm\" generates a new CA on every render, %s; use \"cert-manager\" or \"existingSecret\"" $why) -}}
{{- end -}}
{{- if and $v.backups.enabled (not $v.backups.server.tls.existingSecret) -}}
{{- $errors = append $errors (printf "backups.server.tls.existingSecret: required while backups.enabled, %s: the pgBackRest server and client certificates would be new on every render; create a Secret with ca.crt, server.crt, server.key, client.crt and client.key (client CN %s)" $why (include "pgfleet.backup.clientCN" .)) -}}
{{- end -}}
{{- if and $v.patroni.cleanupOnUninstall (eq $v.patroni.dcs.type "kubernetes") -}}
{{- $errors = append $errors (printf "patroni.cleanupOnUninstall: a Helm post-delete hook, which an offline renderer ignores (Argo CD) or applies as an ordinary Job while the cluster runs (kubectl apply), where it would delete Patroni's DCS ConfigMaps; set it to false and, after removing the release, run kubectl delete configmap -l app.kubernetes.io/instance=%s,app.kubernetes.io/component=database,cluster-name" .Release.Name) -}}
{{- end -}}
{{- if $v.tests.enabled -}}
{{- $errors = append $errors "tests.enabled: a Helm test hook, which an offline renderer ignores (Argo CD) or applies as an ordinary Pod at install (kubectl apply); set it to false" -}}
{{- end -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}

{{- define "pgfleet.validate.labels" -}}
{{- $v := .Values -}}
{{- $errors := list -}}
{{- $reserved := list "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/component" "app.kubernetes.io/version" "app.kubernetes.io/managed-by" "app.kubernetes.io/part-of" "helm.sh/chart" "role" "cluster-name" (include "pgfleet.networkPolicy.clientLabel" .) -}}
{{- $maps := dict "commonLabels" $v.commonLabels "podLabels" $v.podLabels "monitoring.podMonitor.labels" $v.monitoring.podMonitor.labels "monitoring.prometheusRule.labels" $v.monitoring.prometheusRule.labels "monitoring.grafanaDashboard.labels" $v.monitoring.grafanaDashboard.labels -}}
{{- range $path := keys $maps | sortAlpha -}}
{{- range $key := keys (index $maps $path) | sortAlpha -}}
{{- if or (has $key $reserved) (hasPrefix "pgfleet.io/" $key) -}}
{{- $errors = append $errors (printf "%s.%s: the chart sets this label itself, and Services, selectors or NetworkPolicies match on it; use another key" $path $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}
