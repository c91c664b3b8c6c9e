#!/bin/sh
# pgfleet: the pgbackrest sidecar (key server.sh of the backup scripts ConfigMap, in /opt/pgfleet/backup). It runs
# `pgbackrest server`, which reads its TLS key, certificate and CA at start and again on SIGHUP, never when the
# kubelet swaps the mounted Secret's files (a cert-manager renewal, a rotated backups.server.tls.existingSecret, the
# server certificate re-issued when shards are added). tls-reload.sh watches TLS_RELOAD_DIRS and sends the SIGHUP.
# The container lives exactly as long as the server: this script exits with the server's status, and SIGTERM stops
# both. POSIX sh.
set -u
dir=$(dirname "$0")
pgbackrest server &
server=$!
/bin/sh "$dir/tls-reload.sh" kill -HUP "$server" &
reloader=$!
trap 'kill -TERM "$server" "$reloader" 2>/dev/null' TERM INT
status=0
# `wait` also returns when a trapped signal arrives: wait again until the server itself has exited.
while kill -0 "$server" 2>/dev/null; do
  wait "$server"
  status=$?
done
kill -TERM "$reloader" 2>/dev/null
wait "$reloader" 2>/dev/null
echo "pgfleet: pgbackrest server exited with status $status" >&2
exit "$status"
