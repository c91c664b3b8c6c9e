#!/usr/bin/env python3
"""Brings a running shard's Patroni dynamic configuration in line with the chart's values (helm upgrade hook).

Patroni copies bootstrap.dcs (timings, synchronous mode, postgresql.parameters) into the DCS once, when a shard
is initialised; afterwards those values only reach the shard through PATCH /config. This sends the rendered
bootstrap.dcs as a JSON merge patch, with null for every key the previous release set and the new one drops, so
keys set by hand (patronictl edit-config) and never by the chart are left alone. Prints what changed; a
parameter that needs a restart then shows as pending restart (patronictl list, the PgfleetPendingRestart alert).

Environment:
  PGFLEET_PATRONI_HOST      a name resolving to the shard's members (the headless Service)
  PGFLEET_PATRONI_PORT      Patroni's REST port (8008)
  PGFLEET_DCS_DESIRED       the rendered bootstrap.dcs, as JSON
  PGFLEET_DCS_PREVIOUS      the previous release's bootstrap.dcs, as JSON ({} when unknown: nothing is removed)
  PGFLEET_TIMEOUT           seconds to keep trying while no member answers (default 240)
  PATRONI_RESTAPI_USERNAME, PATRONI_RESTAPI_PASSWORD   credentials for Patroni's write endpoints
"""
import base64
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request


def dropped(previous, desired):
    """Merge-patch nulls for the keys `previous` set that `desired` no longer sets."""
    out = {}
    for key, old in previous.items():
        if key not in desired:
            out[key] = None
        elif isinstance(old, dict) and isinstance(desired[key], dict):
            inner = dropped(old, desired[key])
            if inner:
                out[key] = inner
    return out


def merged(base, patch):
    """RFC 7386 JSON merge patch, which is how Patroni applies PATCH /config."""
    if not isinstance(patch, dict):
        return patch
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merged(out.get(key), value)
    return out


def changes(before, after, prefix=''):
    """Dotted keys whose value differs, with the old and new value."""
    out = []
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            out += changes(old, new, f'{prefix}{key}.')
        elif old != new:
            out.append((f'{prefix}{key}', old, new))
    return out


def request(url, method='GET', body=None):
    headers = {'Content-Type': 'application/json'}
    if method != 'GET':
        user, password = os.environ['PATRONI_RESTAPI_USERNAME'], os.environ['PATRONI_RESTAPI_PASSWORD']
        headers['Authorization'] = 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers), timeout=10) as r:
        return json.loads(r.read() or b'{}')


def members(host, port):
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [f'http://[{i[4][0]}]:{port}' if ':' in i[4][0] else f'http://{i[4][0]}:{port}' for i in infos]


def main():
    host, port = os.environ['PGFLEET_PATRONI_HOST'], int(os.environ.get('PGFLEET_PATRONI_PORT', '8008'))
    desired = json.loads(os.environ['PGFLEET_DCS_DESIRED'])
    previous = json.loads(os.environ.get('PGFLEET_DCS_PREVIOUS') or '{}')
    patch = merged(dropped(previous, desired), desired)
    deadline = time.monotonic() + int(os.environ.get('PGFLEET_TIMEOUT', '240'))
    errors = []
    while True:
        try:
            urls = members(host, port)
        except OSError as e:
            urls, errors = [], [f'{host}: {e}']
        for url in urls:
            try:
                current = request(f'{url}/config')
                diff = changes(current, merged(current, patch))
                if not diff:
                    print(f'{host}: the dynamic configuration already matches the values')
                    return 0
                request(f'{url}/config', 'PATCH', patch)
                for key, old, new in diff:
                    print(f'{host}: {key}: {json.dumps(old)} -> {json.dumps(new)}')
                return 0
            except urllib.error.HTTPError as e:
                if e.code in (401, 403):
                    print(f'{host}: Patroni refused the credentials ({e.code}): check patroni-api-password in the auth Secret', file=sys.stderr)
                    return 1
                errors.append(f'{url}: HTTP {e.code} {e.read()[:200]!r}')
            except (OSError, ValueError) as e:
                errors.append(f'{url}: {e}')
        if time.monotonic() > deadline:
            print(f'{host}: no member applied the configuration: ' + '; '.join(errors[-5:]), file=sys.stderr)
            return 1
        time.sleep(5)


if __name__ == '__main__':
    sys.exit(main())
