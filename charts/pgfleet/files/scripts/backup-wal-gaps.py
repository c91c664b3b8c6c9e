#!/usr/bin/env python3
"""WAL continuity of one stanza in every repository (key wal-gaps.py of the backup scripts ConfigMap).

usage: wal-gaps.py <stanza>

Once archive-push-queue-max is reached, pgBackRest drops the queued WAL and reports success, so nothing in
PostgreSQL shows the hole: point-in-time recovery cannot cross it. This lists the archived WAL segments from the
oldest backup on and reports every run of missing segments on stderr (with the archive times around it), and one
metric per repository on stdout: pgfleet_backup_wal_missing_segments{stanza,repo}. Exit 0 when the repository was
read (gaps or not), 1 when pgBackRest could not list it.

Timelines: a promotion continues the WAL on a new timeline from the segment of the switch, so segments are
compared by position, whatever their timeline. WAL segments are 16 MiB (PostgreSQL's default; the chart's initdb
does not change it).
"""
import json
import re
import subprocess
import sys
import time

SEGMENTS_PER_XLOGID = 0x100000000 // (16 * 1024 * 1024)
SEGMENT = re.compile(r'^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(-[0-9a-f]{40}|$)')


def pgbackrest(*args):
    out = subprocess.run(['pgbackrest', *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def position(name):
    """The segment's position in the WAL stream (timeline left out)."""
    m = SEGMENT.match(name)
    return int(m.group(2), 16) * SEGMENTS_PER_XLOGID + int(m.group(3), 16) if m else None


def segment_name(timeline, pos):
    return '%08X%08X%08X' % (timeline, pos // SEGMENTS_PER_XLOGID, pos % SEGMENTS_PER_XLOGID)


def when(epoch):
    return time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(epoch))


def gaps(stanza, repo, info):
    """Runs of missing segments in one repository: (first missing, last missing, archived before, archived after)."""
    archived = {}
    listing = pgbackrest('--output=json', '--recurse', f'--repo={repo}', 'repo-ls', f'archive/{stanza}')
    for path, entry in listing.items():
        parts = path.split('/')
        if entry.get('type') != 'file' or len(parts) != 3:
            continue
        pos = position(parts[2])
        if pos is not None:
            archived.setdefault(parts[0], {}).setdefault(pos, (int(parts[2][:8], 16), entry.get('time', 0)))
    found = []
    for archive in info.get('archive', []):
        if archive['database'].get('repo-key') != repo:
            continue
        starts = [position(b['archive']['start']) for b in info.get('backup', [])
                  if b['database'].get('repo-key') == repo and b['database'].get('id') == archive['database'].get('id')]
        segments = archived.get(archive['id'], {})
        if not starts or not segments:
            continue
        # WAL before the oldest backup is not needed by any restore (retention removes it).
        present = sorted(p for p in segments if p >= min(starts))
        for before, after in zip(present, present[1:]):
            if after - before > 1:
                found.append((segment_name(segments[after][0], before + 1), segment_name(segments[after][0], after - 1),
                              after - before - 1, segments[before][1], segments[after][1]))
    return found


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: wal-gaps.py <stanza>')
    stanza = sys.argv[1]
    try:
        info = pgbackrest(f'--stanza={stanza}', '--output=json', 'info')[0]
        repos = [r['key'] for r in info.get('repo', []) if r.get('status', {}).get('code') == 0]
        if not repos:
            raise ValueError(info.get('status', {}).get('message', 'no repository answers'))
        results = {repo: gaps(stanza, repo, info) for repo in repos}
    except (subprocess.CalledProcessError, ValueError, KeyError, IndexError) as e:
        detail = e.stderr.strip() if isinstance(e, subprocess.CalledProcessError) else str(e)
        print(f'WARNING: could not read the WAL of stanza {stanza} in the repository: {detail}', file=sys.stderr)
        return 1
    print('# TYPE pgfleet_backup_wal_missing_segments gauge')
    for repo, found in results.items():
        for first, last, count, before, after in found:
            segments = f'WAL {first} (1 segment)' if count == 1 else f'WAL {first} to {last} ({count} segments)'
            print(f'WARNING: stanza {stanza} repo{repo}: {segments} is missing from the '
                  f'repository (the WAL around it was archived at {when(before)} and {when(after)}): a point-in-time '
                  'recovery from an earlier backup stops at the gap; backups taken after it restore as usual',
                  file=sys.stderr)
        print(f'pgfleet_backup_wal_missing_segments{{stanza="{stanza}",repo="{repo}"}} {sum(f[2] for f in found)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
