{{/*
Backup additions to patroni.yml of one shard: (dict "root" $ "shard" i) -> YAML map deep-merged over the base.

What a runner of the rendered config (the local cluster, scripts/lib/local/*) needs to know:
- pgbackrest.conf of shard i: ConfigMap `<shard>-pgbackrest`, key `pgbackrest.conf` (database pods; mounted at
  /etc/pgbackrest/pgbackrest.conf and named by env PGBACKREST_CONFIG). Key `repo-host.conf` is the backup Jobs'
  config (repository host with pgN-host=<pod>.<shard>-headless.<ns>.svc, pgN-host-type=tls), key `verify.conf`
  the verification Job's. Scripts: ConfigMap `<fullname>-backup-scripts` (post-bootstrap.sh, backup.sh,
  verify.sh), mounted at /opt/pgfleet/backup. TLS server/client certs: Secret `<fullname>-backup-tls`
  (ca.crt, server.crt, server.key, client.crt, client.key), mounted at /etc/pgfleet/backup-tls. Key `server.conf`
  is the sidecar's config (TLS server only, no repository settings).
- Secrets come only from the environment: PGBACKREST_REPO1_S3_KEY, PGBACKREST_REPO1_S3_KEY_SECRET,
  PGBACKREST_REPO1_CIPHER_PASS (and REPO2_* with backups.repo2.enabled), from the user's existingSecrets.
  The `pgbackrest server` sidecar gets PGPASSWORD (superuser) to reach PostgreSQL over the local socket.
- Everything needed to run against s3rver is a value: backups.s3.endpoint (host) + backups.s3.port,
  backups.s3.uriStyle=path, backups.s3.verifyTls=false, backups.s3.region, backups.s3.bucket, backups.s3.path
  (encryption.enabled=false or an existingSecret for the passphrase).
- Paths in the config: pg1-path /var/lib/postgresql/data/pgdata, socket /var/run/postgresql, spool
  /var/spool/pgbackrest, lock /tmp/pgbackrest; logs go to the console only (log-level-file=off).

Settings that must follow changes of values live in the LOCAL config (postgresql.parameters for
archive_mode/archive_command/archive_timeout, postgresql.recovery_conf for restore_command): bootstrap.dcs is
applied only once, and Patroni gives local parameters precedence over the DCS for these keys.
Valid for Patroni 3.0.2 and 4.1: every key used here exists in both.
*/}}
{{- define "pgfleet.backup.patroni" -}}
{{- $ := .root -}}
{{- $v := $.Values -}}
{{- if $v.backups.enabled -}}
{{- $stanza := include "pgfleet.backup.stanza" . -}}
{{- $paths := include "pgfleet.backup.paths" $ | fromYaml -}}
bootstrap:
  post_bootstrap: {{ $paths.scripts }}/post-bootstrap.sh {{ $stanza }}
  {{- if $v.restore.enabled }}
  method: pgbackrest_restore
  pgbackrest_restore:
    command: {{ include "pgfleet.backup.restoreCommand" . | quote }}
    keep_existing_recovery_conf: true
    no_params: true
  {{- end }}
postgresql:
  parameters:
    archive_mode: "on"
    archive_command: pgbackrest --stanza={{ $stanza }} archive-push "%p"
    archive_timeout: {{ int $v.backups.archiveTimeout }}
  recovery_conf:
    restore_command: pgbackrest --stanza={{ $stanza }} archive-get %f "%p"
  create_replica_methods:
    - pgbackrest
    - basebackup
  pgbackrest:
    command: pgbackrest --stanza={{ $stanza }} --delta --type=standby restore
    keep_data: true
    no_params: true
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{/*
The custom bootstrap command of a point-in-time restore (Patroni splits it like a shell): (dict "root" $ "shard" i).
pgBackRest writes the recovery settings itself (keep_existing_recovery_conf) with --target-action=promote.
*/}}
{{- define "pgfleet.backup.restoreCommand" -}}
{{- $r := .root.Values.restore -}}
{{- $t := $r.target -}}
{{- $paths := include "pgfleet.backup.paths" .root | fromYaml -}}
{{- $args := list "pgbackrest" (printf "--stanza=%s" (include "pgfleet.backup.sourceStanza" .)) (printf "--pg1-path=%s" $paths.pgdata) (printf "--repo=%d" (int $r.repository)) "--delta" -}}
{{- with $r.set }}{{ $args = append $args (printf "--set=%s" .) }}{{ end -}}
{{- if eq $t.type "latest" -}}
{{- $args = append $args "--type=default" -}}
{{- else if eq $t.type "immediate" -}}
{{- $args = concat $args (list "--type=immediate" "--target-action=promote") -}}
{{- else -}}
{{- $args = append $args (printf "--type=%s" $t.type) -}}
{{- $args = append $args (printf "\"--target=%s\"" (index $t $t.type)) -}}
{{- if $t.exclusive }}{{ $args = append $args "--target-exclusive" }}{{ end -}}
{{- $args = append $args "--target-action=promote" -}}
{{- end -}}
{{- with $t.timeline }}{{ $args = append $args (printf "--target-timeline=%s" .) }}{{ end -}}
{{- join " " (append $args "restore") -}}
{{- end -}}
