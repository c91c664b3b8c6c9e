# shellcheck shell=sh
# Shared by the backup scripts (key lib.sh of the backup scripts ConfigMap, sourced, never run): timestamps in logs
# and metrics pushed to a Pushgateway when PGFLEET_PUSHGATEWAY_URL (backups.pushgatewayUrl) is set.
log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
# push_metrics <job> <stanza> <file with exposition-format lines>: print them, then push (best effort).
push_metrics() {
  log "metrics:"
  cat "$3"
  url=${PGFLEET_PUSHGATEWAY_URL:-}
  [ -n "$url" ] || return 0
  python3 - "$url/metrics/job/$1/stanza/$2" "$3" <<'PY' || log "WARNING: could not push metrics to the Pushgateway"
import sys, urllib.request
with open(sys.argv[2], 'rb') as f:
    body = f.read()
req = urllib.request.Request(sys.argv[1], data=body, method='PUT', headers={'Content-Type': 'text/plain; version=0.0.4'})
urllib.request.urlopen(req, timeout=10).read()
PY
}
