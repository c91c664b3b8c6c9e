#!/bin/sh
# Restore verification of one shard: usage verify.sh <stanza> <app database> <timeout seconds>.
# Restores the latest backup into the scratch volume, starts PostgreSQL on it (no network, socket only),
# waits for it to be consistent and promoted, runs sanity queries, and reports the result as metrics.
# Environment: PGFLEET_PGDATA (the scratch data directory), PGFLEET_SUPERUSER, PGFLEET_PUSHGATEWAY_URL (lib.sh).
set -u
# shellcheck source=/dev/null
. "$(dirname "$0")/lib.sh"
stanza=$1
appdb=$2
timeout=$3
pgdata=${PGFLEET_PGDATA:?}
sock=/tmp/verify
started=$(date +%s)
metrics=/tmp/metrics.prom
label=unknown
backup_stop=0
finish() {
  rc=$1
  ok=$(( rc == 0 ? 1 : 0 ))
  pg_ctl -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
  {
    echo "# TYPE pgfleet_backup_verify_success gauge"
    echo "pgfleet_backup_verify_success{stanza=\"$stanza\",backup=\"$label\"} $ok"
    echo "# TYPE pgfleet_backup_verify_duration_seconds gauge"
    echo "pgfleet_backup_verify_duration_seconds{stanza=\"$stanza\"} $(( $(date +%s) - started ))"
    echo "# TYPE pgfleet_backup_verify_timestamp_seconds gauge"
    echo "pgfleet_backup_verify_timestamp_seconds{stanza=\"$stanza\"} $(date +%s)"
    echo "# TYPE pgfleet_backup_verify_backup_stop_timestamp_seconds gauge"
    echo "pgfleet_backup_verify_backup_stop_timestamp_seconds{stanza=\"$stanza\"} $backup_stop"
  } > "$metrics"
  push_metrics pgfleet-backup-verify "$stanza" "$metrics"
  if [ "$ok" = 1 ]; then log "VERIFY OK: stanza $stanza backup $label"; else log "VERIFY FAILED: stanza $stanza backup $label (exit $rc)"; fi
  exit "$rc"
}
fail() { log "ERROR: $*"; finish 1; }
info=$(pgbackrest --stanza="$stanza" --output=json info) || fail "pgbackrest info failed"
# The label and the stop time, split into $1 and $2 on purpose.
# shellcheck disable=SC2046
set -- $(printf '%s' "$info" | python3 -c 'import json,sys
b=json.load(sys.stdin)[0].get("backup") or []
print(b[-1]["label"], b[-1]["timestamp"]["stop"]) if b else print("none 0")')
label=$1
backup_stop=$2
[ "$label" != none ] || fail "stanza $stanza has no backup to verify"
log "restoring backup $label of stanza $stanza"
mkdir -p "$sock"
# Only the data directory itself must be 0700 (PostgreSQL checks it), not its parents.
# shellcheck disable=SC2174
mkdir -p -m 0700 "$pgdata"
pgbackrest --stanza="$stanza" --set="$label" --type=immediate --target-action=promote restore || fail "restore failed"
printf 'local all all trust\n' > "$sock/pg_hba.conf"
# No network, no archiving, a small shared_buffers (the shard's own may exceed this pod's memory); without hot
# standby pg_ctl waits until recovery reached consistency and promoted (bounded by the timeout).
log "starting PostgreSQL on the restored data"
pg_ctl -D "$pgdata" -l "$sock/postgres.log" -w -t "$timeout" start -o "-c listen_addresses='' -c unix_socket_directories=$sock -c port=5432 -c hba_file=$sock/pg_hba.conf -c ssl=off -c archive_mode=off -c primary_conninfo='' -c primary_slot_name='' -c hot_standby=off -c shared_buffers=128MB" \
  || { cat "$sock/postgres.log"; fail "PostgreSQL did not start on the restored data"; }
q() { psql -X -A -t -v ON_ERROR_STOP=1 -h "$sock" -p 5432 -U "${PGFLEET_SUPERUSER:?}" -d "$1" -c "$2"; }
deadline=$(( $(date +%s) + timeout ))
until [ "$(q postgres 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { cat "$sock/postgres.log"; fail "recovery did not finish within ${timeout}s"; }
  sleep 2
done
log "sanity queries"
dbs=$(q postgres "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1") || fail "cannot list databases"
printf '%s\n' "$dbs" | grep -qx "$appdb" || fail "application database $appdb is missing from the restored backup"
for db in $dbs; do
  n=$(q "$db" "SELECT count(*) FROM pg_class") || fail "database $db does not answer"
  size=$(q "$db" "SELECT pg_size_pretty(pg_database_size(current_database()))") || fail "database $db does not answer"
  log "database $db: $n relations, $size"
done
q postgres "SELECT 'timeline ' || timeline_id || ', checkpoint ' || checkpoint_lsn FROM pg_control_checkpoint()" || fail "pg_control_checkpoint failed"
finish 0
