{{/* Backup section of NOTES.txt (included by the lead's NOTES.txt): (root) -> text. */}}
{{- define "pgfleet.backup.notes" -}}
{{- $ := . -}}
{{- $v := .Values -}}
{{- $b := $v.backups -}}
{{- if not $b.enabled }}
WARNING: backups are DISABLED (backups.enabled=false). Nothing is archived: losing the volumes of a shard loses its
data. Enable pgBackRest with backups.enabled=true and backups.s3.* (see the chart README, "Backups").
{{- else }}
BACKUPS (pgBackRest, one stanza per shard, repository s3://{{ $b.s3.bucket }}{{ include "pgfleet.backup.repoPath" (dict "root" $ "s3" $b.s3) }} on {{ $b.s3.endpoint }}{{ if $b.repo2.enabled }} + repo2 s3://{{ $b.repo2.s3.bucket }} on {{ $b.repo2.s3.endpoint }}{{ end }})
  WAL archiving: archive_timeout={{ $b.archiveTimeout }}s{{ if $b.archiveAsync.enabled }}, asynchronous{{ end }}; encryption: {{ ternary "aes-256-cbc" "OFF" $b.encryption.enabled }}
  Schedules: full={{ $b.schedules.full | default "off" | quote }} diff={{ $b.schedules.diff | default "off" | quote }} incr={{ $b.schedules.incr | default "off" | quote }}{{ if $b.verify.enabled }} verify={{ $b.verify.schedule | quote }}{{ end }}
{{- if $b.schedules.suspend }}
  WARNING: every backup CronJob is suspended (backups.schedules.suspend=true).
{{- end }}
{{- if not $b.encryption.enabled }}
  WARNING: repo1 is not encrypted client-side (backups.encryption.enabled=false).
{{- end }}
{{- if not $b.verify.enabled }}
  Restores are not verified: consider backups.verify.enabled=true.
{{- end }}
{{- $first := include "pgfleet.backup.jobName" (dict "root" $ "shard" 0 "suffix" "full") }}
  Run a backup now (shard 0; repeat per shard):
    kubectl -n {{ .Release.Namespace }} create job --from=cronjob/{{ $first }} {{ include "pgfleet.shard" (dict "root" $ "shard" 0) }}-manual-$(date +%s)
  Backup status of a shard (from a database pod):
    kubectl -n {{ .Release.Namespace }} exec {{ include "pgfleet.shard" (dict "root" $ "shard" 0) }}-0 -c postgres -- pgbackrest --stanza={{ include "pgfleet.backup.stanza" (dict "root" $ "shard" 0) }} info
  Point-in-time restore: install a NEW release with the same backups.* values plus
    restore.enabled=true restore.sourceStanza={{ include "pgfleet.fullname" $ }}-shard-{shard} restore.target.type=time restore.target.time="YYYY-MM-DD HH:MM:SS+00"
{{- if $v.restore.enabled }}

RESTORE: shards bootstrap from stanza {{ include "pgfleet.backup.sourceStanza" (dict "root" $ "shard" 0) | quote }}{{ if gt (int $v.shards) 1 }} (shard 0; one per shard){{ end }}, repo{{ $v.restore.repository }}, target {{ $v.restore.target.type }}{{ with index $v.restore.target $v.restore.target.type | default "" }} {{ . | quote }}{{ end }}.
  Follow it with: kubectl -n {{ .Release.Namespace }} logs -f {{ include "pgfleet.shard" (dict "root" $ "shard" 0) }}-0 -c postgres
  After promotion each shard takes a full backup of the new timeline. restore.* only acts at first bootstrap:
  set restore.enabled=false on a later upgrade to keep the values honest.
{{- end }}
{{- end }}
{{- end -}}
