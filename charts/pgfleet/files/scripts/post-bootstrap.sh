#!/bin/sh
# Patroni post_bootstrap (key post-bootstrap.sh of the scripts ConfigMap): runs once on a new cluster (and after a
# restore bootstrap); idempotent. $1 is the superuser connection URL Patroni passes. The database container sets
# the role names and the application database (PGFLEET_ADMIN_USER, PGFLEET_APP_USER, PGFLEET_POOLER_USER,
# PGFLEET_MONITOR_USER, PGFLEET_APP_DB) and the passwords (PGFLEET_*_PASSWORD); the monitoring role is created
# when PGFLEET_MONITOR_PASSWORD is set (monitoring.enabled).
set -eu
: "${PGFLEET_ADMIN_USER:?}" "${PGFLEET_APP_USER:?}" "${PGFLEET_POOLER_USER:?}" "${PGFLEET_MONITOR_USER:?}" "${PGFLEET_APP_DB:?}"
# Patroni's pgpass names the socket directory, but libpq looks a socket in its compiled-in default directory
# (/var/run/postgresql on Debian builds) up as `localhost`: add `localhost` twins of the socket lines, in
# Patroni's file itself so that callers of this script (the backup post-bootstrap's stanza-create) find them too.
if [ -n "${PGPASSFILE:-}" ] && [ -w "$PGPASSFILE" ] && ! grep -q '^localhost:' "$PGPASSFILE"; then
  twins=$(sed -n 's#^/[^:]*:#localhost:#p' "$PGPASSFILE")
  [ -z "$twins" ] || printf '\n%s\n' "$twins" >> "$PGPASSFILE"
fi
psql "$1" -X -q -v ON_ERROR_STOP=1 \
  -v admin_user="$PGFLEET_ADMIN_USER" -v admin_password="$PGFLEET_ADMIN_PASSWORD" \
  -v app_user="$PGFLEET_APP_USER" -v app_password="$PGFLEET_APP_PASSWORD" \
  -v pooler_user="$PGFLEET_POOLER_USER" -v pooler_password="$PGFLEET_POOLER_PASSWORD" \
  -v app_db="$PGFLEET_APP_DB" <<'SQL'
SELECT format('CREATE ROLE %I', :'admin_user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'admin_user') \gexec
ALTER ROLE :"admin_user" LOGIN CREATEDB CREATEROLE NOSUPERUSER PASSWORD :'admin_password';
SELECT format('CREATE ROLE %I', :'app_user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \gexec
ALTER ROLE :"app_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
SELECT format('CREATE ROLE %I', :'pooler_user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'pooler_user') \gexec
ALTER ROLE :"pooler_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pooler_password';
SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'app_db') \gexec
SQL
# The pooler's auth_query looks passwords up through a SECURITY DEFINER function (never pg_shadow directly),
# in every database the pooler serves; superusers, replication roles and the chart's own service roles
# (pooler, monitoring) are never returned, so none of them can log in through a pooler.
for db in postgres "$PGFLEET_APP_DB"; do
  psql "$1" -X -q -v ON_ERROR_STOP=1 -v db="$db" -v pooler_user="$PGFLEET_POOLER_USER" \
    -v monitor_user="$PGFLEET_MONITOR_USER" <<'SQL'
\connect :"db"
CREATE SCHEMA IF NOT EXISTS pgfleet;
REVOKE ALL ON SCHEMA pgfleet FROM PUBLIC;
GRANT USAGE ON SCHEMA pgfleet TO :"pooler_user";
SELECT format($f$
  CREATE OR REPLACE FUNCTION pgfleet.user_lookup(i_username text, OUT uname text, OUT phash text)
  RETURNS record LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
    SELECT rolname::text, rolpassword::text FROM pg_authid
    WHERE rolname = i_username AND rolcanlogin AND NOT rolsuper AND NOT rolreplication
      AND rolname NOT IN (%L, %L)
  $fn$$f$, :'pooler_user', :'monitor_user') \gexec
REVOKE ALL ON FUNCTION pgfleet.user_lookup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgfleet.user_lookup(text) TO :"pooler_user";
SQL
done
if [ -n "${PGFLEET_MONITOR_PASSWORD:-}" ]; then
# postgres_exporter's role: LOGIN and pg_monitor (read-only statistics), nothing else.
psql "$1" -X -q -v ON_ERROR_STOP=1 \
  -v monitor_user="$PGFLEET_MONITOR_USER" -v monitor_password="$PGFLEET_MONITOR_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I', :'monitor_user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'monitor_user') \gexec
ALTER ROLE :"monitor_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5 PASSWORD :'monitor_password';
GRANT pg_monitor TO :"monitor_user";
SQL
fi
