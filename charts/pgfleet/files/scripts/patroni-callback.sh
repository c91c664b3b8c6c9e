#!/bin/sh
# pgfleet: Patroni's callback with the etcd3 DCS (on_start, on_restart, on_role_change): ACTION ROLE SCOPE.
# It writes the role label the Services select on (label-role.py, in the background: the poolers' RECONNECT must
# not wait on the API server; on-role-change.sh repeats it once the Service has moved), and on a role change it
# moves the poolers (on-role-change.sh). Never fails.
dir=$(dirname "$0")
python3 "$dir/label-role.py" "$@" &
labeler=$!
if [ "${1:-}" = on_role_change ]; then
  "$dir/on-role-change.sh" "$@"
fi
wait "$labeler"
exit 0
