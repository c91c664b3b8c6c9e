#!/bin/sh
# Patroni post_bootstrap with backups enabled (key post-bootstrap.sh of the backup scripts ConfigMap): usage
# post-bootstrap.sh <stanza> <superuser URL>.
# Runs the chart's post-bootstrap (roles, databases), then creates the shard's stanza (idempotent: an
# existing, matching stanza is accepted) and checks archiving. A repository that cannot be reached does not
# fail the bootstrap: the scheduled backup Jobs create the stanza and run `check` before every backup.
set -eu
# shellcheck source=/dev/null
. "$(dirname "$0")/lib.sh"
stanza=$1
shift
/opt/pgfleet/scripts/post-bootstrap.sh "$@"
created=no
for attempt in 1 2 3 4 5; do
  if pgbackrest --stanza="$stanza" stanza-create; then created=yes; break; fi
  log "stanza-create failed (attempt $attempt/5), retrying in 10s"
  sleep 10
done
if [ "$created" = no ]; then
  log "WARNING: stanza $stanza not created: WAL archiving fails until a backup Job creates it"
  exit 0
fi
pgbackrest --stanza="$stanza" check || log "WARNING: pgbackrest check failed for stanza $stanza"
if [ "${PGFLEET_BACKUP_AFTER_RESTORE:-}" = true ]; then
  # Restored cluster (restore.enabled): take a full backup of the new timeline at once, in the background (the
  # bootstrap does not wait for it), so replicas and the next point-in-time restore have a base in this stanza.
  log "restore bootstrap: starting a full backup of stanza $stanza"
  pgbackrest --stanza="$stanza" --type=full backup </dev/null &
fi
