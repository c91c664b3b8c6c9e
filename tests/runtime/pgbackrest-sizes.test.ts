// The archive queue sizes as pgBackRest reads them: every quantity the schema accepts for pushQueueMax and getQueueMax
// renders to a size this machine's pgBackRest parses (a fraction such as 1.5GiB, which Kubernetes allows, it refuses:
// the schema takes whole quantities only). pgBackRest runs archive-push against a missing data directory, so it stops
// right after parsing its options: a size it cannot read fails with error 032 before that. (A plain byte count is a
// YAML number, which the schema refuses for these string keys.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseIni } from 'ini';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { one, render } from '../../scripts/lib/helm.ts';

const BACKUPS = {
  'backups.enabled': true,
  'backups.s3.endpoint': 's3.example.com',
  'backups.s3.bucket': 'bkt',
  'backups.s3.region': 'eu-west-1',
  'backups.s3.existingSecret': 's3',
  'backups.encryption.existingSecret': 'cipher',
  'storage.size': '4Ti',
  'backups.archiveAsync.spoolSizeLimit': '16Gi',
};

/** pgBackRest's verdict on a queue size: '' when it parsed it, else its error. */
function pgbackrestReads(size: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-sizes-'));
  try {
    const r = spawnSync(
      'pgbackrest',
      [
        '--stanza=s',
        `--archive-push-queue-max=${size}`,
        `--pg1-path=${join(dir, 'missing')}`,
        `--repo1-path=${join(dir, 'repo')}`,
        '--log-level-console=error',
        '--log-level-file=off',
        'archive-push',
        join(dir, 'missing', 'pg_wal', '000000010000000000000001'),
      ],
      { encoding: 'utf8' },
    );
    const out = `${r.stdout}${r.stderr}`;
    assert.ok(r.status !== 0 && out.includes('ERROR'), `pgBackRest did not stop on the missing data directory: ${out}`);
    return out.includes('[032]') ? out.trim() : '';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const sizes = suite('archive queue sizes, rendered and read by pgBackRest');
sizes('the probe can fail: pgBackRest refuses a fractional size and a Kubernetes suffix', () => {
  assert.match(pgbackrestReads('1.5GiB'), '032');
  assert.match(pgbackrestReads('2Gi'), '032');
});
for (const q of ['3k', '500M', '2G', '1T', '64Ki', '128Mi', '2Gi', '1Ti']) {
  sizes(`${q} renders to a size pgBackRest reads`, () => {
    const small = !q.startsWith('1T'); // the prefetch queue stays under the 16Gi spool
    const objects = render({ set: { ...BACKUPS, 'backups.archiveAsync.pushQueueMax': q, 'backups.archiveAsync.getQueueMax': small ? q : '64Mi' } }).objects;
    const global = parseIni(one(objects, 'ConfigMap', 'db-pgfleet-shard-0-pgbackrest').data['pgbackrest.conf']).global;
    for (const key of ['archive-push-queue-max', 'archive-get-queue-max']) assert.is(pgbackrestReads(global[key]), '', `${key}=${global[key]}`);
  });
}
sizes.run();
