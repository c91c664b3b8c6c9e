{{/*
backup contributions to the database pods (see pgfleet.parts): each returns a YAML list.
With backups.enabled the postgres container gets the pgBackRest config, the repository secrets, the spool and
the backup scripts; a `pgbackrest` sidecar runs `pgbackrest server` (mutual TLS) for the backup Jobs.
*/}}
{{- define "pgfleet.backup.containers" -}}
{{- $ := .root -}}
{{- $v := $.Values -}}
{{- if $v.backups.enabled -}}
{{- $paths := include "pgfleet.backup.paths" $ | fromYaml -}}
- name: pgbackrest
  image: {{ include "pgfleet.image" $v.image | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- /* `pgbackrest server`, sent SIGHUP when the mounted certificate changes (files/scripts/pgbackrest-server.sh) */}}
  command: [/bin/sh, {{ printf "%s/server.sh" $paths.scripts }}]
  ports:
    - name: pgbackrest
      containerPort: {{ int $v.backups.server.port }}
  env:
    - name: PGBACKREST_CONFIG
      value: {{ $paths.conf }}
    - name: TLS_RELOAD_DIRS
      value: {{ $paths.tls }}
    - name: TLS_RELOAD_INTERVAL
      value: {{ $v.tls.reloadIntervalSeconds | int | quote }}
    - name: HOME
      value: /tmp
    {{- /* The sidecar's remote connects to PostgreSQL over the pod-local socket as the superuser. */}}
    {{- include "pgfleet.auth.secretEnv" (list $ "PGPASSWORD" "superuser-password") | nindent 4 }}
  {{- /* No readinessProbe: a backup sidecar must never take a database pod out of its Services. A liveness
  probe restarts only this container. */}}
  livenessProbe:
    tcpSocket:
      port: pgbackrest
    periodSeconds: 30
    failureThreshold: 3
  resources:
    {{- toYaml $v.backups.server.resources | nindent 4 }}
  securityContext:
    {{- include "pgfleet.containerSecurityContext" $ | nindent 4 }}
  volumeMounts:
    - name: data
      mountPath: {{ $paths.data }}
    - name: run
      mountPath: {{ $paths.socket }}
    - name: pgbackrest-server-config
      mountPath: {{ $paths.confDir }}
      readOnly: true
    - name: pgbackrest-tls
      mountPath: {{ $paths.tls }}
      readOnly: true
    - name: pgbackrest-scripts
      mountPath: {{ $paths.scripts }}
      readOnly: true
    - name: tmp
      mountPath: /tmp
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{- define "pgfleet.backup.volumes" -}}
{{- $ := .root -}}
{{- $v := $.Values -}}
{{- if $v.backups.enabled -}}
- name: pgbackrest-config
  configMap:
    name: {{ include "pgfleet.shard" . }}-pgbackrest
    items:
      - key: pgbackrest.conf
        path: pgbackrest.conf
- name: pgbackrest-server-config
  configMap:
    name: {{ include "pgfleet.shard" . }}-pgbackrest
    items:
      - key: server.conf
        path: pgbackrest.conf
- name: pgbackrest-scripts
  configMap:
    name: {{ include "pgfleet.backup.scriptsName" $ }}
    defaultMode: 0555
- name: pgbackrest-tls
  secret:
    secretName: {{ include "pgfleet.backup.tlsSecret" $ }}
    defaultMode: 0640
    items:
      - key: ca.crt
        path: ca.crt
      - key: server.crt
        path: server.crt
      - key: server.key
        path: server.key
- name: pgbackrest-spool
  emptyDir:
    sizeLimit: {{ $v.backups.archiveAsync.spoolSizeLimit }}
{{- include "pgfleet.backup.s3caVolumes" $ }}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/* Mounts of the postgres container (archive-push/-get, replica restore, stanza-create at bootstrap). */}}
{{- define "pgfleet.backup.volumeMounts" -}}
{{- $ := .root -}}
{{- if $.Values.backups.enabled -}}
{{- $paths := include "pgfleet.backup.paths" $ | fromYaml -}}
- name: pgbackrest-config
  mountPath: {{ $paths.confDir }}
  readOnly: true
- name: pgbackrest-scripts
  mountPath: {{ $paths.scripts }}
  readOnly: true
- name: pgbackrest-spool
  mountPath: {{ $paths.spool }}
{{- include "pgfleet.backup.s3caMounts" $ }}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{- define "pgfleet.backup.env" -}}
{{- if .root.Values.backups.enabled -}}
{{- include "pgfleet.backup.secretEnv" .root }}
{{- if .root.Values.restore.enabled }}
# The backup post-bootstrap starts a full backup of the restored timeline.
- name: PGFLEET_BACKUP_AFTER_RESTORE
  value: "true"
{{- end }}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/* Extra NetworkPolicy rules for the database pods: the backup Jobs reach the TLS server; archiving reaches S3. */}}
{{- define "pgfleet.backup.ingress" -}}
{{- $ := .root -}}
{{- if $.Values.backups.enabled -}}
- ports:
    - port: {{ int $.Values.backups.server.port }}
      protocol: TCP
  from:
    - podSelector:
        matchLabels:
          {{- include "pgfleet.selectorLabels" (dict "root" $ "component" "backup" "shard" .shard) | nindent 10 }}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{- define "pgfleet.backup.egress" -}}
{{- if .root.Values.backups.enabled -}}
{{- include "pgfleet.backup.s3Egress" .root }}
{{- else -}}
[]
{{- end -}}
{{- end -}}
