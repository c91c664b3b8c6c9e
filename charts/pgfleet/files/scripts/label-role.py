#!/usr/bin/env python3
# pgfleet: writes Patroni's role onto this pod's `role` label, which the shard's -primary and -replicas Services
# select on. Only with the etcd3 DCS: the Kubernetes DCS writes the label itself, etcd3 writes nothing to Kubernetes.
# Run by patroni-callback.sh as `label-role.py ACTION ROLE SCOPE`, and by Patroni as its before_stop command
# (`label-role.py before_stop`): that one removes the label before PostgreSQL stops, so a demoted primary has left
# -primary before it starts again read-only. The pod is PGFLEET_POD_NAME in PGFLEET_POD_NAMESPACE (not
# PATRONI_NAME: Patroni removes the PATRONI_* variables it reads as configuration from the environment its
# callbacks inherit), the API server KUBERNETES_SERVICE_HOST/PORT (set by the kubelet), the credentials the pod's
# service account token.
# A callback's label is retried until the API server takes it (a partitioned pod labels itself after the heal)
# unless a later run has taken over (the sequence file); before_stop makes one short attempt, since Patroni waits
# for it. It never fails Patroni: every problem is logged, the exit code is 0.
import itertools
import json
import os
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request

ACCOUNT = os.environ.get("PGFLEET_SERVICEACCOUNT_DIR", "/var/run/secrets/kubernetes.io/serviceaccount")
LEADER_ROLES = {"primary", "master", "standby_leader"}
SEQUENCE = os.path.join(tempfile.gettempdir(), "pgfleet-label-role.seq")


def main(argv):
    action, role, scope = (list(argv) + ["", "", ""])[:3]
    stopping = action == "before_stop"
    value = None if stopping else "primary" if role in LEADER_ROLES else "replica"

    def log(message):
        print("pgfleet label-role (%s %s -> %s): %s" % (scope, action, role, message), file=sys.stderr)

    pod = os.environ.get("PGFLEET_POD_NAME", "")
    namespace = os.environ.get("PGFLEET_POD_NAMESPACE", "")
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not (pod and namespace and host):
        log("no pod name, namespace or Kubernetes API in the environment: label not written")
        return 0
    try:
        with open(os.path.join(ACCOUNT, "token")) as f:
            token = f.read().strip()
        context = ssl.create_default_context(cafile=os.path.join(ACCOUNT, "ca.crt"))
    except (OSError, ssl.SSLError) as err:
        log("no service account credentials (%s): label not written" % err)
        return 0
    turn = take_turn()
    address = "[%s]" % host if ":" in host else host
    url = "https://%s:%s/api/v1/namespaces/%s/pods/%s" % (address, port, namespace, pod)
    body = json.dumps({"metadata": {"labels": {"role": value}}}).encode()
    refusals, delay = 0, 0.5
    for attempt in itertools.count(1):
        request = urllib.request.Request(url, data=body, method="PATCH", headers={
            "Authorization": "Bearer " + token, "Content-Type": "application/merge-patch+json"})
        try:
            with urllib.request.urlopen(request, timeout=1 if stopping else 3, context=context):
                pass
            log("role label removed" if stopping else "role=%s written" % value)
            return 0
        except urllib.error.HTTPError as err:  # refused: retried twice (RBAC may lag the pod), then given up
            refusals += 1
            failure, final = err, refusals >= 3 and err.code < 500 and err.code != 429
        except Exception as err:  # unreachable or timed out: retried until it answers
            failure, final = err, False
        if stopping or final:
            log("attempt %d failed: %s; label not written" % (attempt, failure))
            return 0
        if attempt <= 3 or attempt % 10 == 0:
            log("attempt %d failed: %s; retrying" % (attempt, failure))
        time.sleep(delay)
        delay = min(delay * 2, 5)
        if not our_turn(turn):
            log("a later run labels the pod: this one stops")
            return 0


def take_turn():
    """Records this run as the latest one; returns its mark (None if the sequence file cannot be written)."""
    mark = "%d %d" % (time.time_ns(), os.getpid())
    try:
        with open(SEQUENCE, "w") as f:
            f.write(mark)
        return mark
    except OSError:
        return None


def our_turn(mark):
    try:
        with open(SEQUENCE) as f:
            return mark is None or f.read() == mark
    except OSError:
        return True


sys.exit(main(sys.argv[1:]))
