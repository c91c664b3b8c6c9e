#!/usr/bin/env python3
# pgfleet: writes Patroni's role onto this pod's `role` label, which the shard's -primary and -replicas Services
# select on. Only with the etcd3 DCS: the Kubernetes DCS writes the label itself, etcd3 writes nothing to Kubernetes.
# Run by patroni-callback.sh as `label-role.py ACTION ROLE SCOPE`; the pod is PGFLEET_POD_NAME in
# PGFLEET_POD_NAMESPACE (not PATRONI_NAME: Patroni removes the PATRONI_* variables it reads as configuration from the
# environment its callbacks inherit), the API server KUBERNETES_SERVICE_HOST/PORT (set by the kubelet), the
# credentials the pod's service account token. It never fails Patroni: every problem is logged, the exit code is 0.
import json
import os
import ssl
import sys
import time
import urllib.request

ACCOUNT = os.environ.get("PGFLEET_SERVICEACCOUNT_DIR", "/var/run/secrets/kubernetes.io/serviceaccount")
LEADER_ROLES = {"primary", "master", "standby_leader"}


def main(argv):
    action, role, scope = (list(argv) + ["", "", ""])[:3]
    value = "primary" if role in LEADER_ROLES else "replica"

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
    address = "[%s]" % host if ":" in host else host
    url = "https://%s:%s/api/v1/namespaces/%s/pods/%s" % (address, port, namespace, pod)
    body = json.dumps({"metadata": {"labels": {"role": value}}}).encode()
    for attempt in (1, 2, 3):
        request = urllib.request.Request(url, data=body, method="PATCH", headers={
            "Authorization": "Bearer " + token, "Content-Type": "application/merge-patch+json"})
        try:
            with urllib.request.urlopen(request, timeout=3, context=context):
                pass
            log("role=%s written" % value)
            return 0
        except Exception as err:  # the API server may be briefly unreachable: retried, then logged
            log("attempt %d failed: %s" % (attempt, err))
            time.sleep(0.5 * attempt)
    return 0


sys.exit(main(sys.argv[1:]))
