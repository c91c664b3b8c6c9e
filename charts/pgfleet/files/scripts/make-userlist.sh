#!/bin/sh
# PgBouncer's auth_file (key make-userlist.sh of each pool's ConfigMap; the pool pods' init container runs it).
# It holds only the auth_query role and the pooler-local admin and stats roles, as the pgbouncer.ini beside this
# script names them (auth_user, admin_users, stats_users), with passwords from Secret-mounted files: never a
# plaintext userlist in a ConfigMap. Every application role is looked up through pgfleet.user_lookup(). Quotes
# in passwords are doubled, as the auth_file format requires.
# PGFLEET_SECRETS_DIR, PGFLEET_USERLIST and PGFLEET_PGBOUNCER_INI override the paths (a local run).
set -eu
secrets=${PGFLEET_SECRETS_DIR:-/etc/pgbouncer/secrets}
out=${PGFLEET_USERLIST:-/etc/pgbouncer/auth/userlist.txt}
ini=${PGFLEET_PGBOUNCER_INI:-$(dirname "$0")/pgbouncer.ini}
# role KEY: the first role the ini lists under KEY.
role() {
  r=$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\([^,[:space:]]*\).*/\1/p" "$ini" | head -n 1)
  [ -n "$r" ] || { echo "make-userlist: $ini sets no $1" >&2; exit 1; }
  printf '%s' "$r"
}
entry() {
  pw=$(cat "$secrets/$2")
  [ -n "$pw" ] || { echo "make-userlist: $secrets/$2 is empty" >&2; exit 1; }
  printf '"%s" "%s"\n' "$1" "$(printf '%s' "$pw" | sed 's/"/""/g')"
}
auth_user=$(role auth_user)
admin_user=$(role admin_users)
stats_user=$(role stats_users)
umask 077
{
  entry "$auth_user" pooler-password
  entry "$admin_user" admin-password
  entry "$stats_user" stats-password
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "make-userlist: wrote 3 entries to $out" >&2
