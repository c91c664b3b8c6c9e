{{/*
pgBackRest configuration of the chart. Four variants per shard, all in the ConfigMap `<shard>-pgbackrest`:
  pgbackrest.conf  database pods, postgres container (archive-push/-get, replica restore, stanza-create)
  server.conf      database pods, `pgbackrest server` sidecar (TLS server; no repository settings)
  repo-host.conf   backup CronJobs: the Job pod is the repository host, every pod of the shard is a pgN-host
                   reached through its `pgbackrest server` sidecar (mutual TLS, port backups.server.port)
  verify.conf      verification CronJob: the repository only, pg1-path on a scratch volume
Secrets never appear here: PGBACKREST_REPO<n>_S3_KEY, PGBACKREST_REPO<n>_S3_KEY_SECRET and
PGBACKREST_REPO<n>_CIPHER_PASS come from the user's Secrets as environment variables (pgfleet.backup.secretEnv).
*/}}

{{- define "pgfleet.backup.paths" -}}
conf: /etc/pgbackrest/pgbackrest.conf
confDir: /etc/pgbackrest
tls: /etc/pgfleet/backup-tls
s3ca: /etc/pgfleet/backup-s3-ca
spool: /var/spool/pgbackrest
lock: /tmp/pgbackrest
scripts: /opt/pgfleet/backup
data: /var/lib/postgresql/data
pgdata: /var/lib/postgresql/data/pgdata
socket: /var/run/postgresql
{{- end -}}

{{/* Stanza of a shard: (dict "root" $ "shard" i) -> the shard name (= Patroni scope). */}}
{{- define "pgfleet.backup.stanza" -}}
{{- include "pgfleet.shard" . -}}
{{- end -}}

{{/* Stanza a restore reads shard i from: restore.sourceStanza with {shard} replaced, or the shard's own. */}}
{{- define "pgfleet.backup.sourceStanza" -}}
{{- $src := .root.Values.restore.sourceStanza -}}
{{- if $src -}}
{{- $src | replace "{shard}" (toString (int .shard)) -}}
{{- else -}}
{{- include "pgfleet.backup.stanza" . -}}
{{- end -}}
{{- end -}}

{{/* CronJob names must stay <= 52 characters: (dict "root" $ "shard" i "suffix" "full") -> <base>-shard-<i>-backup-<suffix>. */}}
{{- define "pgfleet.backup.jobName" -}}
{{- $suffix := printf "shard-%d-backup-%s" (int .shard) .suffix -}}
{{- printf "%s-%s" (include "pgfleet.fullname" .root | trunc (int (sub 51 (len $suffix))) | trimSuffix "-") $suffix -}}
{{- end -}}

{{- define "pgfleet.backup.tlsSecret" -}}
{{- default (include "pgfleet.suffixed" (dict "root" . "suffix" "backup-tls")) .Values.backups.server.tls.existingSecret -}}
{{- end -}}

{{- define "pgfleet.backup.scriptsName" -}}
{{- include "pgfleet.suffixed" (dict "root" . "suffix" "backup-scripts") -}}
{{- end -}}

{{- define "pgfleet.backup.serviceAccountName" -}}
{{- include "pgfleet.suffixed" (dict "root" . "suffix" "backup") -}}
{{- end -}}

{{/* Client certificate CN the TLS servers authorise (tls-server-auth=<cn>=<stanza>). */}}
{{- define "pgfleet.backup.clientCN" -}}pgfleet-backup{{- end -}}

{{/* Repositories in use: (root) -> YAML list of {n, cfg}. */}}
{{- define "pgfleet.backup.repos" -}}
{{- $b := .Values.backups -}}
- num: 1
  cfg: {{ dict "s3" $b.s3 "encryption" $b.encryption "retention" $b.retention | toJson }}
{{- if $b.repo2.enabled }}
- num: 2
  cfg: {{ $b.repo2 | toJson }}
{{- end }}
{{- end -}}

{{/*
A whole Kubernetes quantity (the schema's PGBACKREST_SIZE) -> a pgBackRest size with the same number of bytes: binary
suffixes gain a B (2Gi -> 2GiB); decimal ones become bytes (500M -> 500000000), since pgBackRest's MB means MiB.
*/}}
{{- define "pgfleet.backup.size" -}}
{{- $q := toString . -}}
{{- if hasSuffix "i" $q -}}{{ $q }}B{{- else -}}{{ include "pgfleet.quantity" $q | float64 | printf "%.0f" }}{{- end -}}
{{- end -}}

{{/* A Kubernetes quantity in whole MiB, rounded down (root-free: takes the quantity). */}}
{{- define "pgfleet.quantityMiB" -}}
{{- divf (include "pgfleet.quantity" . | float64) 1048576 | floor | int64 -}}
{{- end -}}

{{/* A Kubernetes quantity (`500m`, `1.5`, `2Gi`, `1k`) as a plain number of its base unit (cores, bytes). */}}
{{- define "pgfleet.quantity" -}}
{{- $q := toString . -}}
{{- $n := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $per := dict "" 1 "m" 0.001 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "Pi" 1125899906842624 "Ei" 1152921504606846976
  "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 -}}
{{- mulf (float64 $n) (index $per (trimPrefix $n $q)) -}}
{{- end -}}

{{/*
archive-push-queue-max in pgBackRest's grammar, or empty (never drop WAL): `auto` is a quarter of storage.size, so a
long S3 outage drops WAL (a PITR gap until the next backup) before pg_wal fills the volume and stops the primary.
(root)
*/}}
{{- define "pgfleet.backup.pushQueueMax" -}}
{{- $q := .Values.backups.archiveAsync.pushQueueMax -}}
{{- if eq $q "auto" -}}
{{- printf "%dMiB" (div (include "pgfleet.quantityMiB" .Values.storage.size | int64) 4) -}}
{{- else if $q -}}
{{- include "pgfleet.backup.size" $q -}}
{{- end -}}
{{- end -}}

{{/* Repository path: backups.s3.path without a trailing `/` (`/` stays), or /pgfleet/<namespace>/<fullname>. */}}
{{- define "pgfleet.backup.repoPath" -}}
{{- if .s3.path -}}{{ trimSuffix "/" .s3.path | default "/" }}
{{- else -}}{{ printf "/pgfleet/%s/%s" .root.Release.Namespace (include "pgfleet.fullname" .root) }}
{{- end -}}
{{- end -}}

{{/* [global] lines shared by every variant: repositories and tuning. (root) */}}
{{- define "pgfleet.backup.conf.global" -}}
{{- $ := . -}}
{{- $b := .Values.backups -}}
{{- $paths := include "pgfleet.backup.paths" . | fromYaml -}}
[global]
{{- range $repo := include "pgfleet.backup.repos" $ | fromYamlArray }}
{{- $n := int $repo.num }}
{{- $s3 := $repo.cfg.s3 }}
repo{{ $n }}-type=s3
repo{{ $n }}-path={{ include "pgfleet.backup.repoPath" (dict "root" $ "s3" $s3) }}
repo{{ $n }}-s3-bucket={{ $s3.bucket }}
repo{{ $n }}-s3-endpoint={{ $s3.endpoint }}
repo{{ $n }}-storage-port={{ int $s3.port }}
repo{{ $n }}-s3-region={{ $s3.region }}
repo{{ $n }}-s3-uri-style={{ $s3.uriStyle }}
repo{{ $n }}-s3-key-type={{ $s3.keyType }}
repo{{ $n }}-storage-verify-tls={{ ternary "y" "n" $s3.verifyTls }}
{{- if $s3.caSecret.name }}
repo{{ $n }}-storage-ca-file={{ $paths.s3ca }}/repo{{ $n }}/ca.crt
{{- end }}
{{- if $repo.cfg.encryption.enabled }}
repo{{ $n }}-cipher-type=aes-256-cbc
{{- end }}
repo{{ $n }}-retention-full-type={{ $repo.cfg.retention.fullType }}
repo{{ $n }}-retention-full={{ int $repo.cfg.retention.full }}
repo{{ $n }}-retention-diff={{ int $repo.cfg.retention.diff }}
repo{{ $n }}-bundle={{ ternary "y" "n" $b.bundle }}
{{- end }}
compress-type={{ $b.compressType }}
{{- if $b.compressLevel }}
compress-level={{ int $b.compressLevel }}
{{- end }}
process-max={{ int $b.processMax }}
start-fast={{ ternary "y" "n" $b.startFast }}
archive-async={{ ternary "y" "n" $b.archiveAsync.enabled }}
spool-path={{ $paths.spool }}
{{- with include "pgfleet.backup.pushQueueMax" . }}
archive-push-queue-max={{ . }}
{{- end }}
archive-get-queue-max={{ include "pgfleet.backup.size" $b.archiveAsync.getQueueMax }}
{{ include "pgfleet.backup.conf.common" . }}
delta=y
{{- end -}}

{{/* Lock and log settings of every variant (root). Logs go to the console only: the root filesystem is read-only. */}}
{{- define "pgfleet.backup.conf.common" -}}
lock-path={{ (include "pgfleet.backup.paths" . | fromYaml).lock }}
log-level-console=info
log-level-stderr=off
log-level-file=off
{{- end -}}

{{/* Database pods, postgres container (archive-push/-get, replica restore, stanza-create): (dict "root" $ "shard" i). */}}
{{- define "pgfleet.backup.conf.db" -}}
{{- $ := .root -}}
{{- $paths := include "pgfleet.backup.paths" $ | fromYaml -}}
{{- include "pgfleet.backup.conf.global" $ }}

[global:archive-push]
log-level-console=warn

[global:archive-get]
log-level-console=warn

[{{ include "pgfleet.backup.stanza" . }}]
pg1-path={{ $paths.pgdata }}
pg1-socket-path={{ $paths.socket }}
pg1-port=5432
pg1-user={{ $.Values.auth.superuser }}
{{- end -}}

{{/*
Database pods, `pgbackrest server` sidecar: no repository settings at all (the remote it spawns for a backup Job
only reads PostgreSQL's files and talks to PostgreSQL), so it never holds repository credentials.
*/}}
{{- define "pgfleet.backup.conf.server" -}}
{{- $ := .root -}}
{{- $paths := include "pgfleet.backup.paths" $ | fromYaml -}}
[global]
{{ include "pgfleet.backup.conf.common" $ }}

[global:server]
tls-server-address=*
tls-server-port={{ int $.Values.backups.server.port }}
tls-server-ca-file={{ $paths.tls }}/ca.crt
tls-server-cert-file={{ $paths.tls }}/server.crt
tls-server-key-file={{ $paths.tls }}/server.key
tls-server-auth={{ include "pgfleet.backup.clientCN" $ }}={{ include "pgfleet.backup.stanza" . }}

[{{ include "pgfleet.backup.stanza" . }}]
pg1-path={{ $paths.pgdata }}
pg1-socket-path={{ $paths.socket }}
pg1-port=5432
pg1-user={{ $.Values.auth.superuser }}
{{- end -}}

{{/* Backup Jobs (repository host): (dict "root" $ "shard" i). */}}
{{- define "pgfleet.backup.conf.repoHost" -}}
{{- $ := .root -}}
{{- $paths := include "pgfleet.backup.paths" $ | fromYaml -}}
{{- $shard := include "pgfleet.shard" . -}}
{{- include "pgfleet.backup.conf.global" $ }}
{{- if $.Values.backups.fromStandby }}
backup-standby=y
{{- end }}

[{{ include "pgfleet.backup.stanza" . }}]
{{- range $m := until (int (add 1 $.Values.replicas)) }}
{{- $k := add1 $m }}
pg{{ $k }}-host={{ $shard }}-{{ $m }}.{{ $shard }}-headless.{{ $.Release.Namespace }}.svc
pg{{ $k }}-host-type=tls
pg{{ $k }}-host-port={{ int $.Values.backups.server.port }}
pg{{ $k }}-host-ca-file={{ $paths.tls }}/ca.crt
pg{{ $k }}-host-cert-file={{ $paths.tls }}/client.crt
pg{{ $k }}-host-key-file={{ $paths.tls }}/client.key
pg{{ $k }}-path={{ $paths.pgdata }}
pg{{ $k }}-socket-path={{ $paths.socket }}
pg{{ $k }}-port=5432
pg{{ $k }}-user={{ $.Values.auth.superuser }}
{{- end }}
{{- end -}}

{{/* Verification Job: restore into the scratch volume mounted at the data path. (dict "root" $ "shard" i) */}}
{{- define "pgfleet.backup.conf.verify" -}}
{{- $ := .root -}}
{{- $paths := include "pgfleet.backup.paths" $ | fromYaml -}}
{{- include "pgfleet.backup.conf.global" $ }}

[{{ include "pgfleet.backup.stanza" . }}]
pg1-path={{ $paths.pgdata }}
pg1-socket-path=/tmp/verify
pg1-port=5432
pg1-user={{ $.Values.auth.superuser }}
{{- end -}}

{{/* Secret environment of any container running pgBackRest against the repositories: (root) -> YAML list. */}}
{{- define "pgfleet.backup.secretEnv" -}}
{{- $ := . -}}
{{- range $repo := include "pgfleet.backup.repos" $ | fromYamlArray }}
{{- $n := int $repo.num }}
{{- $s3 := $repo.cfg.s3 }}
{{- if eq $s3.keyType "shared" }}
- name: PGBACKREST_REPO{{ $n }}_S3_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $s3.existingSecret }}
      key: {{ $s3.accessKeyIdKey }}
- name: PGBACKREST_REPO{{ $n }}_S3_KEY_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $s3.existingSecret }}
      key: {{ $s3.secretAccessKeyKey }}
{{- end }}
{{- if $repo.cfg.encryption.enabled }}
- name: PGBACKREST_REPO{{ $n }}_CIPHER_PASS
  valueFrom:
    secretKeyRef:
      name: {{ $repo.cfg.encryption.existingSecret }}
      key: {{ $repo.cfg.encryption.passphraseKey }}
{{- end }}
{{- end }}
- name: PGBACKREST_CONFIG
  value: {{ (include "pgfleet.backup.paths" $ | fromYaml).conf }}
{{- end -}}

{{/* Volumes with the S3 CA bundles (root) -> YAML list; mounts -> YAML list. */}}
{{- define "pgfleet.backup.s3caVolumes" -}}
{{- range $repo := include "pgfleet.backup.repos" . | fromYamlArray }}
{{- with $repo.cfg.s3.caSecret.name }}
- name: pgbackrest-s3-ca-repo{{ int $repo.num }}
  secret:
    secretName: {{ . }}
    items:
      - key: {{ $repo.cfg.s3.caSecret.key }}
        path: ca.crt
{{- end }}
{{- end }}
{{- end -}}
{{- define "pgfleet.backup.s3caMounts" -}}
{{- $paths := include "pgfleet.backup.paths" . | fromYaml -}}
{{- range $repo := include "pgfleet.backup.repos" . | fromYamlArray }}
{{- if $repo.cfg.s3.caSecret.name }}
- name: pgbackrest-s3-ca-repo{{ int $repo.num }}
  mountPath: {{ $paths.s3ca }}/repo{{ int $repo.num }}
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{/* S3 ports to allow egress to: (root) -> YAML list of NetworkPolicyPort. */}}
{{- define "pgfleet.backup.s3Ports" -}}
{{- $ports := list -}}
{{- range $repo := include "pgfleet.backup.repos" . | fromYamlArray }}{{ $ports = append $ports (int $repo.cfg.s3.port) }}{{ end -}}
{{- range $p := $ports | uniq }}
- port: {{ $p }}
  protocol: TCP
{{- end }}
{{- end -}}

{{/* Egress rule to the S3 endpoints (root) -> one NetworkPolicyEgressRule as a YAML list. */}}
{{- define "pgfleet.backup.s3Egress" -}}
- ports:
    {{- include "pgfleet.backup.s3Ports" . | nindent 4 }}
  {{- with .Values.backups.networkPolicy.s3Peers }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
