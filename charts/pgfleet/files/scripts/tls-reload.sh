#!/bin/sh
# pgfleet: reloads a server when the TLS files Kubernetes mounts from a Secret change (a cert-manager renewal, a
# re-issued certificate): the kubelet swaps the files in place, but PostgreSQL and PgBouncer read them only at
# start and on reload. Every TLS_RELOAD_INTERVAL seconds (30) it checksums the files in TLS_RELOAD_DIRS; when they
# changed it runs its arguments (pg_reload_conf through psql, PgBouncer's RELOAD), and retries at the next check
# until that succeeds. It never stops the server it watches, and exits at once on SIGTERM (its sleep too).
set -u
interval=${TLS_RELOAD_INTERVAL:-30}
nap=
trap 'kill $nap 2>/dev/null; exit 0' TERM INT
sum() {
  for d in $TLS_RELOAD_DIRS; do cat "$d"/* 2>/dev/null; done | cksum
}
last=$(sum)
echo "tls-reload: watching $TLS_RELOAD_DIRS every ${interval}s"
while :; do
  sleep "$interval" &
  nap=$!
  wait $nap
  now=$(sum)
  [ "$now" = "$last" ] && continue
  if "$@"; then
    echo "tls-reload: certificate files changed; reloaded"
    last=$now
  else
    echo "tls-reload: certificate files changed; the reload failed, trying again in ${interval}s" >&2
  fi
done
