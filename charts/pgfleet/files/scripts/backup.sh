#!/bin/sh
# Scheduled backup of one shard, run by the CronJob as pgBackRest repository host (key backup.sh of the backup
# scripts ConfigMap): usage backup.sh <stanza> <full|diff|incr>.
# The database pods are reached through their `pgbackrest server` sidecars (mutual TLS); pgBackRest finds the
# primary (or, with backup-standby, a standby) among the pgN-host entries itself: no Kubernetes API access.
set -u
# shellcheck source=/dev/null
. "$(dirname "$0")/lib.sh"
stanza=$1
type=$2
started=$(date +%s)
metrics=/tmp/metrics.prom
wal_gaps=
finish() {
  rc=$1
  ok=$(( rc == 0 ? 1 : 0 ))
  {
    echo "# TYPE pgfleet_backup_success gauge"
    echo "pgfleet_backup_success{stanza=\"$stanza\",type=\"$type\"} $ok"
    echo "# TYPE pgfleet_backup_duration_seconds gauge"
    echo "pgfleet_backup_duration_seconds{stanza=\"$stanza\",type=\"$type\"} $(( $(date +%s) - started ))"
    [ -z "$wal_gaps" ] || echo "$wal_gaps"
    if [ "$ok" = 1 ]; then
      echo "# TYPE pgfleet_backup_last_success_timestamp_seconds gauge"
      echo "pgfleet_backup_last_success_timestamp_seconds{stanza=\"$stanza\",type=\"$type\"} $(date +%s)"
    fi
  } > "$metrics"
  push_metrics "pgfleet-backup-$type" "$stanza" "$metrics"
  exit "$rc"
}
run() {
  log "pgbackrest $*"
  pgbackrest --stanza="$stanza" "$@"
  rc=$?
  [ "$rc" = 0 ] || log "pgbackrest $* exited $rc"
  return "$rc"
}
# The stanza normally exists (post-bootstrap creates it); create it here when it does not (repository
# unreachable at bootstrap, backups enabled on an existing cluster). stanza-create takes every lock of the
# stanza, so it waits while asynchronous archiving holds the archive lock (exit 50).
status=$(pgbackrest --stanza="$stanza" --output=json info | python3 -c 'import json,sys
print(json.load(sys.stdin)[0]["status"]["code"])') || status=unknown
if [ "$status" = 1 ] || [ "$status" = 3 ]; then
  n=0
  until run stanza-create; do
    rc=$?
    n=$((n + 1))
    if [ "$rc" != 50 ] || [ "$n" -ge 12 ]; then finish "$rc"; fi
    sleep 5
  done
fi
run check || finish $?
# Exit code 50 on backup: another backup of this stanza holds the backup lock (e.g. a full still running
# when an incremental is due). That run is skipped, not failed.
run --type="$type" backup
rc=$?
if [ "$rc" = 50 ]; then log "another backup of stanza $stanza is running: skipping this $type backup"; exit 0; fi
[ "$rc" = 0 ] || finish "$rc"
pgbackrest --stanza="$stanza" info
# WAL that pgBackRest dropped to bound its push queue (archive-push-queue-max) leaves a gap in the repository that
# nothing else reports: wal-gaps.py names it and counts the missing segments (a metric).
wal_gaps=$(python3 "$(dirname "$0")/wal-gaps.py" "$stanza") || log "WARNING: the WAL in the repository could not be checked for gaps"
log "$type backup of stanza $stanza done"
finish 0
