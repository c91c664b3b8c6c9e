# The drill writer run inside a client pod (kube backend, scripts/lib/kube/client.ts): the loop of
# scripts/lib/drills/writer.ts, but its connections go through the cluster's DNS, Service and kube-proxy, as an
# application's do, instead of through `kubectl port-forward`.
# stdin: one JSON line of settings (dsn, ca, table, run, firstId, intervalMs, timeoutMs), then "stop" (or the end
# of input) to stop. stdout: one JSON line per acknowledgement {"a": [id, sentAt, ackAt, server]} or error
# {"e": [id, at, message]} (epoch milliseconds), then {"done": true}.
import json
import select
import sys
import threading
import time

import psycopg2
import psycopg2.extensions as ext

cfg = json.loads(sys.stdin.readline())
stopping = threading.Event()


def watch_stdin():
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stopping.set()


def now_ms():
    return int(time.time() * 1000)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def settle(conn, seconds):
    """Drives an asynchronous connection or query to completion, or raises once `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        state = conn.poll()
        if state == ext.POLL_OK:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out after %d ms" % (seconds * 1000))
        fd = conn.fileno()
        if state == ext.POLL_READ:
            select.select([fd], [], [], left)
        else:
            select.select([], [fd], [], left)


def main():
    if cfg.get("ca"):
        with open(cfg["caFile"], "w") as f:
            f.write(cfg["ca"])
    threading.Thread(target=watch_stdin, daemon=True).start()
    timeout = cfg["timeoutMs"] / 1000
    interval = cfg["intervalMs"] / 1000
    insert = "INSERT INTO %s (id, run, server) VALUES (%%s, %%s, host(inet_server_addr())) RETURNING server" % cfg["table"]
    conn = None
    seq = cfg["firstId"]
    while not stopping.is_set():
        started = time.monotonic()
        sent = now_ms()
        seq += 1
        try:
            if conn is None:
                fresh = psycopg2.connect(cfg["dsn"], async_=1)
                try:
                    settle(fresh, timeout)
                except Exception:
                    fresh.close()
                    raise
                conn = fresh
            cur = conn.cursor()
            cur.execute(insert, (seq, cfg["run"]))
            settle(conn, timeout)
            emit({"a": [seq, sent, now_ms(), cur.fetchone()[0]]})
        except Exception as err:  # every failure is the client's observation; the loop goes on
            text = str(err).strip()
            emit({"e": [seq, now_ms(), text.splitlines()[0] if text else type(err).__name__]})
            if conn is not None:
                conn.close()
                conn = None
            time.sleep(0.05)
        left = interval - (time.monotonic() - started)
        if left > 0:
            time.sleep(left)
    if conn is not None:
        conn.close()
    emit({"done": True})


main()
