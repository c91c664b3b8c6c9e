#!/bin/sh
# Patroni on_role_change callback (key on-role-change.sh of the scripts ConfigMap, in /opt/pgfleet/scripts).
# Patroni runs it as `on-role-change.sh <action> <role> <scope>` on the member whose role changed: the promoted replica and, on a
# graceful demotion, the old primary. It resolves every pooler pod of the shard through a headless Service and
# sends RECONNECT on each admin console, so server connections opened through the primary Service before the
# role change are closed as soon as their transaction ends; it repeats once after the Service has moved. On the
# new primary the second round also sends RESUME (a no-op unless paused): poolers never stay paused if a
# switchover script (switchover.py) was killed between its PAUSE and its RESUME.
# POSIX sh; needs only psql and getent. It never fails: Patroni must not wait for, or trip over, a pooler.
# Environment (set on the database pods by pgfleet.pooler.env):
#   PGFLEET_POOLER_HOSTS           headless Service name(s) of the shard's pooler pods (space separated)
#   PGFLEET_POOLER_ADMIN_DB        admin console database: pgbouncer (PgBouncer) or admin (PgDog)
#   PGFLEET_POOLER_ADMIN_USER      pooler-local admin role
#   PGFLEET_POOLER_ADMIN_PASSWORD  its password (from the pooler Secret)
#   PGFLEET_POOLER_PORT            6432
#   PGFLEET_POOLER_TIMEOUT         seconds per pod (connect and command), default 2
#   PGFLEET_POOLER_REPEAT_AFTER    seconds before the second round, default 5 (0: one round only)
# pgfleet: drop every pooler server connection of this shard when a member changes role. Never fails.
action=${1:-on_role_change}
role=${2:-unknown}
scope=${3:-unknown}
hosts=${PGFLEET_POOLER_HOSTS:-}
db=${PGFLEET_POOLER_ADMIN_DB:-pgbouncer}
user=${PGFLEET_POOLER_ADMIN_USER:-}
port=${PGFLEET_POOLER_PORT:-6432}
wait=${PGFLEET_POOLER_TIMEOUT:-2}
again=${PGFLEET_POOLER_REPEAT_AFTER:-5}
log() { echo "pgfleet on-role-change ($scope -> $role): $*" >&2; }
if [ -z "$hosts" ] || [ -z "$user" ]; then
  log "no pooler configured; nothing to do"
  exit 0
fi
PGPASSWORD=${PGFLEET_POOLER_ADMIN_PASSWORD:-}
PGCONNECT_TIMEOUT=$wait
export PGPASSWORD PGCONNECT_TIMEOUT
limit=""
if command -v timeout >/dev/null 2>&1; then limit="timeout $((wait + 1))"; fi

# admin ADDRESS COMMAND: one admin console command on one pooler pod.
admin() {
  $limit psql -X -q -A -t -w "host=$1 port=$port dbname=$db user=$user sslmode=prefer connect_timeout=$wait application_name=pgfleet-on-role-change" -c "$2" >/dev/null 2>&1
}

# One round: RECONNECT (then $2, if set) on every address the headless Services resolve to (each address once).
round() {
  sent=0 failed=0 seen=" "
  for host in $hosts; do
    addrs=$(getent ahosts "$host" 2>/dev/null) || { log "$host does not resolve (no pooler pod yet?)"; continue; }
    while read -r addr _rest; do
      [ -n "$addr" ] || continue
      case "$seen" in *" $addr "*) continue ;; esac
      seen="$seen$addr "
      if admin "$addr" RECONNECT; then
        sent=$((sent + 1))
      else
        failed=$((failed + 1))
        log "RECONNECT failed on $addr:$port"
      fi
      # RESUME answers an error when the pooler is not paused: that is the normal case, not a failure.
      [ -z "${2:-}" ] || admin "$addr" "$2" || :
    done <<EOF
$addrs
EOF
  done
  log "$action: RECONNECT sent to $sent pooler pod(s), $failed failed ($1)"
}

round first
# A server connection opened between the role change and the Service update may still reach the old
# primary through the Service's stale endpoints: drop those too once the endpoints have moved.
if [ "$again" -gt 0 ] 2>/dev/null; then
  sleep "$again"
  case "$role" in
    primary|master) round repeat RESUME ;;
    *) round repeat ;;
  esac
fi
exit 0
