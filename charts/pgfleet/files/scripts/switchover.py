#!/usr/bin/env python3
"""pgfleet: planned switchover of this shard with its poolers paused around it (see --help).

Planned switchover that the shard's pooler clients do not see (key `switchover` of the scripts ConfigMap):
  kubectl exec <any member of the shard> -c postgres -- /opt/pgfleet/scripts/switchover [--candidate MEMBER]
1. PAUSE on every pooler pod of the shard: transactions in flight finish, new ones wait inside the pooler.
2. Patroni switchover through the leader's REST API (the old primary stops only once nothing runs on it).
3. Waits until a connection through the shard's -primary Service lands on a writable server that is not the
   old primary (the Service has followed the role label).
4. RECONNECT and RESUME on every pooler pod: the waiting transactions run on the new primary.
The poolers are resumed whatever happens (Patroni refuses, timeout, signal); the new primary's on_role_change
callback sends RESUME again as a safety net. `patronictl switchover` still works; without the pause, a
transaction in flight when the old primary stops gets an error.
The database container's preStop hook runs it with --if-leader: deleting the primary's pod (rolling update,
node drain, kubectl delete) hands leadership over first, and does nothing on a replica, in maintenance mode,
or when no healthy replica could take over (Patroni then simply stops, as without the hook).
Python 3 standard library and psql only. Environment: the on_role_change variables (pgfleet.pooler.env),
PGFLEET_POOLER_USER and PGFLEET_POOLER_PASSWORD (the auth_query role, used to probe the Service), PGFLEET_TLS_CA
(the CA to verify the server with; empty or unset without TLS), and optionally
PGFLEET_PATRONI_API (default http://127.0.0.1:8008) and PGFLEET_PRIMARY_SERVICE (host:port, default
<scope>-primary:5432). --timeout bounds the whole switchover (default 60 s),
--drain-timeout the PAUSE (default 10 s).
"""
import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

env = os.environ.get
TLS = f"sslmode=verify-ca sslrootcert={env('PGFLEET_TLS_CA')}" if env('PGFLEET_TLS_CA') else 'sslmode=disable'
LEADER_ROLES = ('leader', 'master', 'primary', 'standby_leader')
REPLICA_ROLES = ('replica', 'sync_standby', 'quorum_standby')


def log(msg):
    print(f'[{time.strftime("%H:%M:%S")}] switchover: {msg}', file=sys.stderr, flush=True)


def api(url, body=None, timeout=5.0):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method='GET' if body is None else 'POST')
    req.add_header('Content-Type', 'application/json')
    if env('PATRONI_RESTAPI_USERNAME'):
        token = base64.b64encode(f"{env('PATRONI_RESTAPI_USERNAME')}:{env('PATRONI_RESTAPI_PASSWORD', '')}".encode()).decode()
        req.add_header('Authorization', f'Basic {token}')
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def psql(conninfo, sql, timeout, password):
    e = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT=str(max(1, int(timeout))))
    r = subprocess.run(['psql', '-X', '-q', '-A', '-t', '-w', conninfo, '-c', sql], capture_output=True, text=True, timeout=timeout + 1, env=e)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip() or f'psql exited {r.returncode}')
    return r.stdout.strip()


def pooler_addresses():
    addrs = []
    for host in env('PGFLEET_POOLER_HOSTS', '').split():
        try:
            for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM):
                if info[4][0] not in addrs:
                    addrs.append(info[4][0])
        except OSError:
            log(f'{host} does not resolve (no pooler pod?)')
    return addrs


def console(addrs, command, timeout):
    """Runs an admin console command on every pooler pod in parallel; returns the addresses where it failed."""
    failed = []
    def one(addr):
        conninfo = (f"host={addr} port={env('PGFLEET_POOLER_PORT', '6432')} dbname={env('PGFLEET_POOLER_ADMIN_DB', 'pgbouncer')} "
                    f"user={env('PGFLEET_POOLER_ADMIN_USER', '')} sslmode=prefer application_name=pgfleet-switchover")
        try:
            psql(conninfo, command, timeout, env('PGFLEET_POOLER_ADMIN_PASSWORD', ''))
        except Exception as err:  # noqa: BLE001 - report and go on: a pooler must never block the switchover
            failed.append(addr)
            log(f'{command} on {addr} failed: {str(err).splitlines()[-1] if str(err) else err}')
    threads = [threading.Thread(target=one, args=(a,)) for a in addrs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failed


def handover_needed(me, members):
    """--if-leader: whether this member (its /patroni answer) leads its shard and a healthy replica could take over."""
    if me.get('role') not in LEADER_ROLES:
        log(f'this member is a {me.get("role")}: nothing to hand over')
        return False
    if me.get('pause'):
        log('maintenance mode (Patroni paused): no handover')
        return False
    ready = [m['name'] for m in members if m.get('role') in REPLICA_ROLES and m.get('state') in ('running', 'streaming')
             and not (m.get('tags') or {}).get('nofailover')]
    if not ready:
        log('no healthy replica to hand over to: Patroni stops without a switchover')
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description='Planned switchover of this shard; its poolers hold transactions meanwhile, so clients see a pause, not an error.')
    parser.add_argument('--candidate', help='member to promote (default: Patroni picks the synchronous standby or the healthiest replica)')
    parser.add_argument('--if-leader', action='store_true', help='only when run on the leader and a healthy replica exists, else exit 0 (preStop hook)')
    parser.add_argument('--timeout', type=float, default=60, help='seconds for the whole switchover (default 60)')
    parser.add_argument('--drain-timeout', type=float, default=10, help='seconds for PAUSE to wait for transactions in flight (default 10)')
    args = parser.parse_args()
    base = env('PGFLEET_PATRONI_API', 'http://127.0.0.1:8008').rstrip('/')
    deadline = time.monotonic() + args.timeout
    drain = min(args.drain_timeout, args.timeout / 2)

    me = json.loads(api(f'{base}/patroni')[1])
    scope = me['patroni']['scope']
    members = json.loads(api(f'{base}/cluster')[1]).get('members', [])
    if args.if_leader and not handover_needed(me, members):
        return
    leader = next((m for m in members if m.get('role') in LEADER_ROLES), None)
    if not leader:
        sys.exit(f'switchover: {scope} has no leader')
    if args.candidate and not any(m['name'] == args.candidate for m in members):
        sys.exit(f'switchover: {args.candidate} is not a member of {scope} ({", ".join(m["name"] for m in members)})')
    if not env('PGFLEET_POOLER_USER'):
        sys.exit('switchover: PGFLEET_POOLER_USER is not set (the database container sets it)')
    service, _, port = env('PGFLEET_PRIMARY_SERVICE', f'{scope}-primary:5432').rpartition(':')
    log(f'{scope}: leader {leader["name"]} ({leader.get("host")}), candidate {args.candidate or "chosen by Patroni"}')

    addrs = pooler_addresses()
    paused = False
    started = time.monotonic()
    result = {}
    try:
        if addrs:
            failed = console(addrs, 'PAUSE', drain)
            paused = True
            log(f'PAUSE: {len(addrs) - len(failed)} of {len(addrs)} pooler pod(s) paused in {time.monotonic() - started:.2f} s')

        def request():
            body = {'leader': leader['name']}
            if args.candidate:
                body['candidate'] = args.candidate
            try:
                result['status'], result['body'] = api(f'{leader["api_url"].rsplit("/", 1)[0]}/switchover', body, timeout=max(1.0, deadline - time.monotonic()))
            except Exception as err:  # noqa: BLE001
                result['status'], result['body'] = 0, str(err)
        worker = threading.Thread(target=request, daemon=True)
        worker.start()

        # The switchover is done for clients once the Service reaches a writable server that is not the old
        # primary (or, once Patroni has confirmed, any writable server: the old one is demoted by then).
        conninfo = f'host={service} port={port} dbname=postgres user={env("PGFLEET_POOLER_USER")} {TLS} application_name=pgfleet-switchover'
        new = None
        while time.monotonic() < deadline:
            done = not worker.is_alive()
            if done and result.get('status') != 200:
                raise RuntimeError(f'Patroni refused the switchover ({result.get("status")}): {result.get("body", "").strip()}')
            try:
                recovery, addr = psql(conninfo, 'SELECT pg_is_in_recovery(), host(inet_server_addr())', 2, env('PGFLEET_POOLER_PASSWORD', '')).split('|')
                if recovery == 'f' and (addr != leader.get('host') or done):
                    new = addr
                    break
            except Exception:  # noqa: BLE001 - the Service has no ready endpoint yet
                pass
            time.sleep(0.1)
        if new is None:
            raise RuntimeError(f'{service} did not reach a new primary within the timeout')
        log(f'{service} reaches the new primary ({new}) {time.monotonic() - started:.2f} s after the pause')
    finally:
        if paused:
            console(addrs, 'RECONNECT', 5)
            failed = console(addrs, 'RESUME', 5)
            log(f'RESUME: {len(addrs) - len(failed)} of {len(addrs)} pooler pod(s) resumed; clients were held {time.monotonic() - started:.2f} s')
    worker.join(timeout=max(0.0, deadline - time.monotonic()))
    log(f'Patroni: {result.get("body", "").strip() or "no answer yet"}')


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    except (RuntimeError, OSError, ValueError, KeyError) as err:
        sys.exit(f'switchover: {err}')
