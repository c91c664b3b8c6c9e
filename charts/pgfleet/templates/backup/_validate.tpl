{{/* Backup cross-field rules: a YAML list of messages, each starting with the values path. */}}
{{- define "pgfleet.validate.backups" -}}
{{- $v := .Values -}}
{{- $b := $v.backups -}}
{{- $r := $v.restore -}}
{{- $errors := list -}}
{{- if $b.enabled -}}
  {{- $repos := list (dict "path" "backups" "cfg" $b) -}}
  {{- if $b.repo2.enabled }}{{ $repos = append $repos (dict "path" "backups.repo2" "cfg" $b.repo2) }}{{ end -}}
  {{- range $repo := $repos -}}
    {{- $s3 := $repo.cfg.s3 -}}
    {{- range $key := list "endpoint" "bucket" "region" -}}
      {{- if not (index $s3 $key) -}}
        {{- $errors = append $errors (printf "%s.s3.%s: required when backups are enabled" $repo.path $key) -}}
      {{- end -}}
    {{- end -}}
    {{- if and (eq $s3.keyType "shared") (not $s3.existingSecret) -}}
      {{- $errors = append $errors (printf "%s.s3.existingSecret: required with keyType \"shared\" (a Secret with the keys %q and %q; plaintext keys are never accepted in values)" $repo.path $s3.accessKeyIdKey $s3.secretAccessKeyKey) -}}
    {{- end -}}
    {{- if and $repo.cfg.encryption.enabled (not $repo.cfg.encryption.existingSecret) -}}
      {{- $errors = append $errors (printf "%s.encryption.existingSecret: required when encryption is enabled (a Secret with the key %q holding the cipher passphrase), or set %s.encryption.enabled: false" $repo.path $repo.cfg.encryption.passphraseKey $repo.path) -}}
    {{- end -}}
  {{- end -}}
  {{- $queue := $b.archiveAsync.pushQueueMax -}}
  {{- if and $queue (ne $queue "auto") -}}
    {{- $queueMiB := include "pgfleet.quantityMiB" $queue | int64 -}}
    {{- $volumeMiB := include "pgfleet.quantityMiB" $v.storage.size | int64 -}}
    {{- if ge (mul $queueMiB 2) $volumeMiB -}}
      {{- $errors = append $errors (printf "backups.archiveAsync.pushQueueMax: %s is half or more of storage.size (%s): pg_wal would fill the volume and stop the primary before WAL is dropped; use auto (a quarter) or less than half" $queue $v.storage.size) -}}
    {{- end -}}
  {{- end -}}
  {{- if $b.repo2.enabled -}}
    {{- $p1 := include "pgfleet.backup.repoPath" (dict "root" $ "s3" $b.s3) -}}
    {{- $p2 := include "pgfleet.backup.repoPath" (dict "root" $ "s3" $b.repo2.s3) -}}
    {{- if and (eq (lower $b.s3.endpoint) (lower $b.repo2.s3.endpoint)) (eq $b.s3.bucket $b.repo2.s3.bucket) (eq $p1 $p2) -}}
      {{- $errors = append $errors (printf "backups.repo2.s3: same endpoint, bucket and path as backups.s3 (%s/%s%s): a second repository must be a different location" $b.s3.endpoint $b.s3.bucket $p1) -}}
    {{- end -}}
  {{- end -}}
  {{- if and $b.archiveAsync.enabled (ge (include "pgfleet.quantityMiB" $b.archiveAsync.getQueueMax | int64) (include "pgfleet.quantityMiB" $b.archiveAsync.spoolSizeLimit | int64)) -}}
    {{- $errors = append $errors (printf "backups.archiveAsync.getQueueMax: %s is not under backups.archiveAsync.spoolSizeLimit %s: the prefetched WAL lives in the spool, and the kubelet evicts a pod whose emptyDir outgrows its limit" $b.archiveAsync.getQueueMax $b.archiveAsync.spoolSizeLimit) -}}
  {{- end -}}
  {{- $levels := dict "none" 0 "gz" 9 "bz2" 9 "lz4" 12 "zst" 22 -}}
  {{- if gt (int $b.compressLevel) (int (index $levels $b.compressType)) -}}
    {{- $errors = append $errors (printf "backups.compressLevel: %d is outside %s's levels (%s); 0 uses pgBackRest's default" (int $b.compressLevel) $b.compressType (ternary "none: no level" (printf "1-%d" (int (index $levels $b.compressType))) (eq $b.compressType "none"))) -}}
  {{- end -}}
  {{- if $b.verify.enabled -}}
    {{- if lt (include "pgfleet.quantityMiB" $b.verify.scratch.size | int64) (include "pgfleet.quantityMiB" $v.storage.size | int64) -}}
      {{- $errors = append $errors (printf "backups.verify.scratch.size: %s is smaller than storage.size %s: a full restore of a shard would not fit, and the verification would fail once the data grows" $b.verify.scratch.size $v.storage.size) -}}
    {{- end -}}
  {{- end -}}
  {{- $s := $b.schedules -}}
  {{- if not $s.full -}}
    {{- $errors = append $errors "backups.schedules.full: required when backups are enabled: without scheduled full backups, retention never expires anything, WAL piles up in the repository and every restore replays from one ancient backup (or there is none)" -}}
  {{- end -}}
  {{- $seen := dict -}}
  {{- range $type := list "full" "diff" "incr" -}}
    {{- $expr := regexReplaceAll "\\s+" (trim (index $s $type)) " " -}}
    {{- if $expr -}}
      {{- with index $seen $expr -}}
        {{- $errors = append $errors (printf "backups.schedules.%s: %q is also backups.schedules.%s: both backups would start at once and one of them fails on the stanza lock" $type $expr .) -}}
      {{- end -}}
      {{- $_ := set $seen $expr $type -}}
    {{- end -}}
  {{- end -}}
  {{- $crons := dict "backups.schedules.full" $s.full "backups.schedules.diff" $s.diff "backups.schedules.incr" $s.incr -}}
  {{- if $b.verify.enabled }}{{ $_ := set $crons "backups.verify.schedule" $b.verify.schedule }}{{ end -}}
  {{- range $path, $expr := $crons -}}
    {{- with include "pgfleet.backup.cronError" $expr -}}
      {{- $errors = append $errors (printf "%s: %q is not a valid cron schedule: %s" $path $expr .) -}}
    {{- end -}}
  {{- end -}}
  {{- $at := int $b.archiveTimeout -}}
  {{- if and (gt $at 0) (lt $at 10) -}}
    {{- $errors = append $errors (printf "backups.archiveTimeout: %d s would archive a mostly empty 16 MB WAL segment every %d s; use 0 (off) or >= 10" $at $at) -}}
  {{- end -}}
  {{- if and $b.fromStandby (lt (int $v.replicas) 1) -}}
    {{- $errors = append $errors "backups.fromStandby: needs replicas >= 1 (there is no standby to back up from)" -}}
  {{- end -}}
{{- end -}}
{{- if $r.enabled -}}
  {{- if not $b.enabled -}}
    {{- $errors = append $errors "restore.enabled: needs backups.enabled: true (the repository to restore from is configured under backups.s3 / backups.repo2)" -}}
  {{- end -}}
  {{- if and (eq (int $r.repository) 2) (not $b.repo2.enabled) -}}
    {{- $errors = append $errors "restore.repository: 2 needs backups.repo2.enabled: true" -}}
  {{- end -}}
  {{- if and (gt (int $v.shards) 1) $r.sourceStanza (not (contains "{shard}" $r.sourceStanza)) -}}
    {{- $errors = append $errors (printf "restore.sourceStanza: %q must contain {shard} when shards > 1, or every shard would be restored from the same stanza" $r.sourceStanza) -}}
  {{- end -}}
  {{- $t := $r.target -}}
  {{- if and (has $t.type (list "time" "lsn" "name")) (not (index $t $t.type)) -}}
    {{- $errors = append $errors (printf "restore.target.%s: required when restore.target.type is %q" $t.type $t.type) -}}
  {{- end -}}
  {{- range $key := list "time" "lsn" "name" -}}
    {{- if and (index $t $key) (ne $t.type $key) -}}
      {{- $errors = append $errors (printf "restore.target.%s: set, but restore.target.type is %q (set type: %s, or remove it)" $key $t.type $key) -}}
    {{- end -}}
  {{- end -}}
  {{- if and (eq $t.type "time") $t.time -}}
    {{- with include "pgfleet.backup.targetTimeError" $t.time -}}
      {{- $errors = append $errors (printf "restore.target.time: %q %s" $t.time .) -}}
    {{- end -}}
  {{- end -}}
  {{- if and $t.exclusive (not (has $t.type (list "time" "lsn"))) -}}
    {{- $errors = append $errors (printf "restore.target.exclusive: only applies to restore.target.type time or lsn (got %q)" $t.type) -}}
  {{- end -}}
{{- end -}}
{{- toYaml $errors -}}
{{- end -}}

{{/*
Checks the ranges of a cron expression (the schema checks its shape): "" when valid, else the reason.
Fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec, day of week 0-7 or sun-sat.
*/}}
{{- define "pgfleet.backup.cronError" -}}
{{- $expr := trim . -}}
{{- if and $expr (not (hasPrefix "@" $expr)) -}}
{{- $fields := regexSplit "\\s+" $expr -1 -}}
{{- $spec := list (list "minute" 0 59 "") (list "hour" 0 23 "") (list "day of month" 1 31 "") (list "month" 1 12 "jan feb mar apr may jun jul aug sep oct nov dec") (list "day of week" 0 7 "sun mon tue wed thu fri sat") -}}
{{- $problems := list -}}
{{- if ne (len $fields) 5 -}}
{{- $problems = append $problems (printf "expected 5 fields, got %d" (len $fields)) -}}
{{- else -}}
{{- range $k, $field := $fields -}}
{{- $f := index $spec $k -}}
{{- range $part := splitList "," $field -}}
{{- $bits := splitList "/" $part -}}
{{- if and (eq (len $bits) 2) (lt (atoi (index $bits 1)) 1) -}}
{{- $problems = append $problems (printf "%s step %q must be >= 1" (index $f 0) (index $bits 1)) -}}
{{- end -}}
{{- range $n := regexFindAll "[0-9]+" (first $bits) -1 -}}
{{- if or (lt (atoi $n) (index $f 1)) (gt (atoi $n) (index $f 2)) -}}
{{- $problems = append $problems (printf "%s %s is outside %d-%d" (index $f 0) $n (index $f 1) (index $f 2)) -}}
{{- end -}}
{{- end -}}
{{- range $name := regexFindAll "[A-Za-z]+" (first $bits) -1 -}}
{{- if not (has (lower $name) (splitList " " (index $f 3))) -}}
{{- $problems = append $problems (printf "%s does not accept %q" (index $f 0) $name) -}}
{{- end -}}
{{- end -}}
{{- $range := regexFindAll "[0-9]+" (first $bits) -1 -}}
{{- if and (eq (len $range) 2) (gt (atoi (index $range 0)) (atoi (index $range 1))) -}}
{{- $problems = append $problems (printf "%s range %s is reversed" (index $f 0) (first $bits)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- join "; " $problems -}}
{{- end -}}
{{- end -}}

{{/*
A restore target time (the schema's grammar: `YYYY-MM-DD HH:MM:SS[.ffffff]` then `Z` or `+HH[[:]MM]`): "" when it is a
real instant that is not in the future at render time, else the reason. PostgreSQL itself would find either out only
in the restoring pod.
*/}}
{{- define "pgfleet.backup.targetTimeError" -}}
{{- $t := regexReplaceAll "\\.[0-9]+" (replace "T" " " .) "" -}}
{{- $t = regexReplaceAll "Z$" $t "+00:00" -}}
{{- $t = regexReplaceAll "([+-][0-9]{2})$" $t "${1}:00" -}}
{{- $t = regexReplaceAll "([+-][0-9]{2})([0-9]{2})$" $t "${1}:${2}" -}}
{{- $at := toDate "2006-01-02 15:04:05-07:00" $t -}}
{{- if $at.IsZero -}}is not a real date and time
{{- else if gt (unixEpoch $at | int64) (unixEpoch now | int64) -}}is in the future (render time {{ dateInZone "2006-01-02 15:04:05Z07:00" now "UTC" }}): PostgreSQL would replay every archived WAL, never reach it and refuse to start
{{- end -}}
{{- end -}}
