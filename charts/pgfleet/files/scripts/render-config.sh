#!/bin/sh
# PgDog's configuration with its secrets filled in (key render-config.sh of the PgDog ConfigMap; the init container
# runs it for pgdog.toml and users.toml).
# Fills `@secret:<file>@` placeholders (inside TOML basic strings) from Secret-mounted files, escaping `\` and `"`.
# POSIX sh + sed. Usage: render-config.sh <template> <output>; PGFLEET_SECRETS_DIR overrides the secrets directory.
set -eu
secrets=${PGFLEET_SECRETS_DIR:-/etc/pgdog/secrets}
in=$1
out=$2
umask 077
: > "$out.tmp"
while IFS= read -r line || [ -n "$line" ]; do
  done_part=""
  # Left to right: a filled-in value is never scanned again, whatever it contains.
  while :; do
    case "$line" in
      *@secret:*@*) ;;
      *) break ;;
    esac
    head=${line%%@secret:*}
    rest=${line#*@secret:}
    key=${rest%%@*}
    case "$key" in
      *[!a-z0-9-]*|"") echo "render-config: bad placeholder in $in" >&2; exit 1 ;;
    esac
    [ -s "$secrets/$key" ] || { echo "render-config: $secrets/$key is missing or empty" >&2; exit 1; }
    value=$(sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' "$secrets/$key")
    done_part=$done_part$head$value
    line=${rest#*@}
  done
  printf '%s%s\n' "$done_part" "$line" >> "$out.tmp"
done < "$in"
mv "$out.tmp" "$out"
echo "render-config: wrote $out" >&2
