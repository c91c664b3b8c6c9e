// Backups (pgBackRest): rendered pgbackrest.conf per shard, Patroni archive/restore wiring, CronJobs, the TLS
// server sidecar and its certificates, NetworkPolicies, point-in-time restore, verification, NOTES.
import { createPublicKey, X509Certificate } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseIni } from 'ini';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { find, one, render, RenderError, type K8sObject } from '../../scripts/lib/helm.ts';
import { chartDir } from '../../scripts/lib/tools.ts';
import { chartEnv, dbContainer } from '../../scripts/lib/contract.ts';
import { patroniConfig } from '../lib/patroni.ts';
import { restrictedViolations } from '../lib/podsecurity.ts';
import type { SetValues } from '../../schema/values-paths.ts';

const S0 = 'db-pgfleet-shard-0';
const S1 = 'db-pgfleet-shard-1';
/** The minimum a working backup configuration needs; tests add to it. */
const BASE = {
  'backups.enabled': true,
  'backups.s3.endpoint': 's3.eu-west-1.amazonaws.com',
  'backups.s3.bucket': 'acme-backups',
  'backups.s3.region': 'eu-west-1',
  'backups.s3.existingSecret': 's3-creds',
  'backups.encryption.existingSecret': 'cipher',
};
const ci = (name: string) => join(chartDir, 'ci', name);
const chartEnvOf = (objects: K8sObject[]) => chartEnv(dbContainer(objects));
const renderWith = (set: SetValues = {}, values: string[] = []) => render({ set: { ...BASE, ...set }, values }).objects;
const conf = (objects: K8sObject[], shard: string, key = 'pgbackrest.conf') => parseIni(one(objects, 'ConfigMap', `${shard}-pgbackrest`).data[key]);
const cronJobs = (objects: K8sObject[], component = 'backup') =>
  find(objects, 'CronJob').filter((c) => c.metadata.labels?.['app.kubernetes.io/component'] === component);
const podOf = (cj: K8sObject) => cj.spec.jobTemplate.spec.template.spec;
const sts = (objects: K8sObject[], shard = S0) => one(objects, 'StatefulSet', shard).spec.template.spec;
const refused = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    assert.instance(e, RenderError);
    return (e as Error).message;
  }
  return assert.unreachable('rendered without error') as never;
};

const acceptance = suite('acceptance: backups.enabled, shards=2, three schedules');
acceptance('6 backup CronJobs, and every shard archives to its own stanza', () => {
  const objects = renderWith({
    shards: 2,
    'backups.schedules.full': '0 1 * * 0',
    'backups.schedules.diff': '0 1 * * 1-6',
    'backups.schedules.incr': '0 */4 * * *',
  });
  const jobs = cronJobs(objects);
  assert.is(jobs.length, 6);
  const byShard = (shard: string) =>
    jobs
      .filter((j) => j.metadata.annotations['pgfleet.io/stanza'] === shard)
      .map((j) => j.metadata.labels['pgfleet.io/backup-type'])
      .sort();
  assert.equal(byShard(S0), ['diff', 'full', 'incr']);
  assert.equal(byShard(S1), ['diff', 'full', 'incr']);
  for (const shard of [S0, S1]) {
    const p = patroniConfig(objects, shard);
    assert.is(p.scope, shard);
    assert.is(p.postgresql.parameters.archive_command, `pgbackrest --stanza=${shard} archive-push "%p"`);
    assert.is(p.postgresql.recovery_conf.restore_command, `pgbackrest --stanza=${shard} archive-get %f "%p"`);
    const ini = conf(objects, shard);
    assert.ok(ini[shard], `pgbackrest.conf of ${shard} has no [${shard}] stanza section`);
    assert.is(Object.keys(ini).filter((k) => !k.startsWith('global')).length, 1, 'exactly one stanza per shard');
  }
});
acceptance.run();

const confs = suite('pgbackrest.conf (parsed with ini)');
confs('database pods: repository, encryption, retention, tuning and the TLS server of its own stanza', () => {
  const ini = conf(renderWith({ 'backups.retention.full': 3, 'backups.retention.diff': 5, 'backups.processMax': 4, 'backups.compressType': 'lz4' }), S0);
  const g = ini.global;
  assert.is(g['repo1-type'], 's3');
  assert.is(g['repo1-s3-endpoint'], 's3.eu-west-1.amazonaws.com');
  assert.is(g['repo1-s3-bucket'], 'acme-backups');
  assert.is(g['repo1-s3-region'], 'eu-west-1');
  assert.is(g['repo1-path'], '/pgfleet/default/db-pgfleet');
  assert.is(g['repo1-s3-uri-style'], 'host');
  assert.is(g['repo1-storage-verify-tls'], 'y');
  assert.is(g['repo1-cipher-type'], 'aes-256-cbc');
  assert.is(g['repo1-retention-full'], '3');
  assert.is(g['repo1-retention-full-type'], 'count');
  assert.is(g['repo1-retention-diff'], '5');
  assert.is(g['process-max'], '4');
  assert.is(g['compress-type'], 'lz4');
  assert.is(g['archive-async'], 'y');
  assert.is(g['spool-path'], '/var/spool/pgbackrest');
  assert.is(g['log-level-file'], 'off', 'read-only root filesystem: no log files');
  assert.is(g['lock-path'], '/tmp/pgbackrest');
  assert.not.ok(ini['global:server'], 'the TLS server has its own config');
  assert.is(ini[S0]['pg1-path'], '/var/lib/postgresql/data/pgdata');
  assert.is(ini[S0]['pg1-socket-path'], '/var/run/postgresql');
  assert.is(ini[S0]['pg1-user'], 'postgres');
  assert.not.ok(ini.global['backup-standby']);
});
confs('TLS server sidecar config: the server section of its own stanza and no repository at all', () => {
  const ini = conf(renderWith({ 'backups.server.port': 9432 }), S0, 'server.conf');
  assert.is(ini['global:server']['tls-server-auth'], `pgfleet-backup=${S0}`);
  assert.is(ini['global:server']['tls-server-port'], '9432');
  assert.is(ini['global:server']['tls-server-address'], '*');
  assert.is(ini['global:server']['tls-server-ca-file'], '/etc/pgfleet/backup-tls/ca.crt');
  assert.equal(
    Object.keys(ini.global).filter((k) => k.startsWith('repo')),
    [],
  );
  assert.is(ini[S0]['pg1-path'], '/var/lib/postgresql/data/pgdata');
});
confs('no secret in any pgBackRest config: keys and passphrase are env vars from the existing Secrets', () => {
  const objects = renderWith({
    'backups.repo2.enabled': true,
    'backups.repo2.s3.endpoint': 'minio.dr.svc',
    'backups.repo2.s3.bucket': 'dr-bucket',
    'backups.repo2.s3.region': 'us-east-1',
    'backups.repo2.s3.existingSecret': 'minio',
    'backups.repo2.encryption.existingSecret': 'cipher2',
  });
  for (const key of ['pgbackrest.conf', 'server.conf', 'repo-host.conf', 'verify.conf']) {
    const text = one(objects, 'ConfigMap', `${S0}-pgbackrest`).data[key] as string;
    assert.not.match(text, /s3-key=|s3-key-secret=|cipher-pass=/, `${key} carries a secret option`);
  }
  const env = sts(objects).containers.find((c: any) => c.name === 'postgres').env as any[];
  const ref = (name: string) => env.find((e) => e.name === name)?.valueFrom?.secretKeyRef;
  assert.equal(ref('PGBACKREST_REPO1_S3_KEY'), { name: 's3-creds', key: 'access-key-id' });
  assert.equal(ref('PGBACKREST_REPO1_S3_KEY_SECRET'), { name: 's3-creds', key: 'secret-access-key' });
  assert.equal(ref('PGBACKREST_REPO1_CIPHER_PASS'), { name: 'cipher', key: 'cipher-pass' });
  assert.equal(ref('PGBACKREST_REPO2_S3_KEY'), { name: 'minio', key: 'access-key-id' });
  assert.equal(ref('PGBACKREST_REPO2_CIPHER_PASS'), { name: 'cipher2', key: 'cipher-pass' });
  assert.ok(
    env.every((e) => !e.name.startsWith('PGBACKREST_REPO') || e.valueFrom),
    'a PGBACKREST_REPO* variable has a literal value',
  );
  assert.is(env.find((e) => e.name === 'PGBACKREST_CONFIG').value, '/etc/pgbackrest/pgbackrest.conf');
});
confs('second repository, S3 CA bundle and the s3rver-style settings come from values', () => {
  const objects = render({ values: [ci('20-backups-values.yaml')] }).objects;
  const g = conf(objects, S0).global;
  assert.is(g['repo2-s3-endpoint'], 'minio.backup.svc');
  assert.is(g['repo2-storage-port'], '9000');
  assert.is(g['repo2-s3-uri-style'], 'path');
  assert.is(g['repo2-storage-ca-file'], '/etc/pgfleet/backup-s3-ca/repo2/ca.crt');
  assert.is(g['repo2-retention-full-type'], 'time');
  assert.is(g['repo2-retention-full'], '14');
  assert.is(g['repo1-path'], '/prod/orders');
  assert.is(g['archive-push-queue-max'], '4GiB');
  const local = conf(render({ values: [ci('22-backups-s3rver-values.yaml')] }).objects, S0).global;
  assert.is(local['repo1-s3-endpoint'], 's3rver.local');
  assert.is(local['repo1-storage-port'], '4568');
  assert.is(local['repo1-s3-uri-style'], 'path');
  assert.is(local['repo1-storage-verify-tls'], 'n');
  assert.is(local['repo1-cipher-type'], undefined);
  assert.is(local['archive-async'], 'n');
  const vol = sts(objects).volumes.find((v: any) => v.name === 'pgbackrest-s3-ca-repo2');
  assert.equal(vol.secret, { secretName: 'minio-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] });
});
confs('repository host (backup Jobs): every pod of the shard is a TLS pgN-host; fromStandby sets backup-standby', () => {
  const objects = renderWith({ replicas: 2, 'backups.fromStandby': true }, []);
  const ini = conf(objects, S0, 'repo-host.conf');
  for (const [k, m] of [
    [1, 0],
    [2, 1],
    [3, 2],
  ]) {
    assert.is(ini[S0][`pg${k}-host`], `${S0}-${m}.${S0}-headless.default.svc`);
    assert.is(ini[S0][`pg${k}-host-type`], 'tls');
    assert.is(ini[S0][`pg${k}-host-cert-file`], '/etc/pgfleet/backup-tls/client.crt');
    assert.is(ini[S0][`pg${k}-path`], '/var/lib/postgresql/data/pgdata');
  }
  assert.is(ini[S0]['pg4-host'], undefined);
  assert.is(ini.global['backup-standby'], 'y');
  assert.is(ini.global['repo1-type'], 's3');
  const verify = conf(objects, S0, 'verify.conf');
  assert.is(verify[S0]['pg1-host'], undefined, 'verification restores locally, it never reaches the database pods');
  assert.is(verify[S0]['pg1-path'], '/var/lib/postgresql/data/pgdata');
});
confs('the WAL push queue is bounded by default: a quarter of storage.size (auto), so an S3 outage drops WAL before the volume fills', () => {
  const queue = (set: Record<string, string>) => conf(renderWith(set), S0).global['archive-push-queue-max'];
  assert.is(queue({}), '2560MiB', 'default storage.size 10Gi');
  assert.is(queue({ 'storage.size': '500G' }), '119209MiB', 'decimal units: 500e9 bytes / 4, in MiB');
  assert.is(
    queue({ 'storage.size': '1.5Gi', 'postgresql.parameters.wal_keep_size': '256MB' }),
    '384MiB',
    'fractional size (wal_keep_size lowered: 1GB of 1.5Gi is refused)',
  );
  assert.is(queue({ 'backups.archiveAsync.pushQueueMax': '' }), undefined, 'empty: never drop WAL, as asked');
});
confs('sizes are converted to pgBackRest units', () => {
  const g = conf(renderWith({ 'backups.archiveAsync.pushQueueMax': '500M', 'backups.archiveAsync.getQueueMax': '64Mi' }), S0).global;
  assert.is(g['archive-push-queue-max'], '500000000', 'a decimal suffix becomes bytes: pgBackRest reads MB as MiB');
  assert.is(g['archive-get-queue-max'], '64MiB');
});
confs.run();

const patroni = suite('Patroni wiring');
patroni('archive settings are local parameters (they follow upgrades), replicas are built from the repository first', () => {
  const p = patroniConfig(renderWith({ 'backups.archiveTimeout': 300 }), S0);
  assert.is(p.postgresql.parameters.archive_mode, 'on');
  assert.is(p.postgresql.parameters.archive_timeout, 300);
  assert.not.ok(p.bootstrap.dcs.postgresql.parameters.archive_command, 'archive_command must not be frozen in bootstrap.dcs');
  assert.equal(p.postgresql.create_replica_methods, ['pgbackrest', 'basebackup']);
  assert.equal(p.postgresql.pgbackrest, { command: `pgbackrest --stanza=${S0} --delta --type=standby restore`, keep_data: true, no_params: true });
  assert.is(p.bootstrap.post_bootstrap, `/opt/pgfleet/backup/post-bootstrap.sh ${S0}`);
  assert.not.ok(p.bootstrap.method, 'no custom bootstrap without restore.enabled');
  assert.ok(p.postgresql.basebackup, 'the basebackup fallback keeps its options');
});
patroni("backups disabled: no archiving, basebackup only, the chart's own post-bootstrap", () => {
  const p = patroniConfig(render().objects, S0);
  assert.not.ok(p.postgresql.parameters.archive_mode);
  assert.not.ok(p.postgresql.parameters.archive_command);
  assert.not.ok(p.postgresql.recovery_conf);
  assert.equal(p.postgresql.create_replica_methods, ['basebackup']);
  assert.is(p.bootstrap.post_bootstrap, '/opt/pgfleet/scripts/post-bootstrap.sh');
  const objects = render().objects;
  assert.is(find(objects, 'CronJob').length, 0);
  assert.is(find(objects, 'ConfigMap').filter((c) => c.metadata.name.endsWith('-pgbackrest')).length, 0);
  assert.is(sts(objects).containers.length, 1 + sts(objects).containers.filter((c: any) => c.name !== 'postgres' && c.name !== 'pgbackrest').length);
});
patroni("the post-bootstrap wrapper runs the chart's script, then an idempotent stanza-create and check", () => {
  const script = one(renderWith(), 'ConfigMap', 'db-pgfleet-backup-scripts').data['post-bootstrap.sh'] as string;
  const lines = script.split('\n');
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  assert.ok(at(/\/opt\/pgfleet\/scripts\/post-bootstrap\.sh "\$@"/) >= 0);
  assert.ok(at(/\/opt\/pgfleet\/scripts\/post-bootstrap\.sh/) < at(/stanza-create/));
  assert.ok(at(/stanza-create/) < at(/ check /));
  assert.match(
    script,
    /if \[ "\$\{PGFLEET_BACKUP_AFTER_RESTORE:-\}" = true \]; then\n(.*\n){3}  pgbackrest --stanza="\$stanza" --type=full backup/,
    'only a restore bootstrap starts a backup',
  );
  assert.not.ok(chartEnvOf(renderWith()).PGFLEET_BACKUP_AFTER_RESTORE);
});
patroni.run();

const sidecar = suite('pgbackrest server sidecar');
sidecar(
  'runs `pgbackrest server` on 8432 with the data volume, the socket, its config and the server certificate, reloaded when the certificate changes',
  () => {
    const spec = sts(renderWith());
    const c = spec.containers.find((x: any) => x.name === 'pgbackrest');
    assert.equal(c.command, ['/bin/sh', '/opt/pgfleet/backup/server.sh'], 'pgbackrest server and its watcher (files/scripts/pgbackrest-server.sh)');
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
    assert.is(env.TLS_RELOAD_DIRS, '/etc/pgfleet/backup-tls', 'the watcher watches the mounted server certificate');
    assert.is(env.TLS_RELOAD_INTERVAL, '30');
    assert.is(c.ports[0].containerPort, 8432);
    const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.name, m.mountPath]));
    assert.is(mounts.data, '/var/lib/postgresql/data');
    assert.is(mounts.run, '/var/run/postgresql');
    assert.is(mounts['pgbackrest-server-config'], '/etc/pgbackrest');
    assert.equal(spec.volumes.find((v: any) => v.name === 'pgbackrest-server-config').configMap.items, [{ key: 'server.conf', path: 'pgbackrest.conf' }]);
    assert.is(mounts['pgbackrest-tls'], '/etc/pgfleet/backup-tls');
    assert.is(mounts.tmp, '/tmp', 'shares /tmp (lock-path) with the postgres container');
    assert.is(mounts['pgbackrest-scripts'], '/opt/pgfleet/backup');
    assert.ok(c.env.find((e: any) => e.name === 'PGPASSWORD').valueFrom.secretKeyRef);
    assert.not.ok(
      c.env.some((e: any) => e.name.startsWith('PGBACKREST_REPO')),
      'the sidecar never needs repository credentials',
    );
    const tlsVol = spec.volumes.find((v: any) => v.name === 'pgbackrest-tls');
    assert.equal(
      tlsVol.secret.items.map((i: any) => i.key),
      ['ca.crt', 'server.crt', 'server.key'],
      'database pods never get the client key',
    );
    assert.is(tlsVol.secret.defaultMode, 0o640);
    assert.equal(restrictedViolations(spec), []);
    assert.not.ok(c.readinessProbe, 'a backup sidecar must never make the database pod unready');
    assert.is(c.livenessProbe.tcpSocket.port, 'pgbackrest');
  },
);
sidecar('certificates: one CA, a server certificate valid for every pod of every shard, a client certificate with CN pgfleet-backup', () => {
  const objects = render({ set: { ...BASE, shards: 3 }, namespace: 'prod' }).objects;
  const s = one(objects, 'Secret', 'db-pgfleet-backup-tls');
  const pem = (k: string) => Buffer.from(s.data[k], 'base64');
  const ca = new X509Certificate(pem('ca.crt'));
  const server = new X509Certificate(pem('server.crt'));
  const client = new X509Certificate(pem('client.crt'));
  assert.ok(server.verify(ca.publicKey) && client.verify(ca.publicKey), 'signed by the CA');
  for (const i of [0, 1, 2]) {
    const host = `db-pgfleet-shard-${i}-1.db-pgfleet-shard-${i}-headless.prod.svc`;
    assert.ok(server.checkHost(host), `server certificate does not cover ${host}`);
  }
  assert.is(server.checkHost('evil.example.com'), undefined);
  assert.match(client.subject, 'CN=pgfleet-backup');
  assert.ok(createPublicKey(pem('client.key')).equals(client.publicKey), 'client key matches');
  assert.ok(createPublicKey(pem('server.key')).equals(server.publicKey), 'server key matches');
  const ini = conf(objects, 'db-pgfleet-shard-2', 'server.conf');
  assert.is(ini['global:server']['tls-server-auth'], 'pgfleet-backup=db-pgfleet-shard-2', 'each server authorises the client for its own stanza only');
});
sidecar('backups.server.tls.existingSecret: no Secret rendered, the named one mounted', () => {
  const objects = renderWith({ 'backups.server.tls.existingSecret': 'my-backup-tls' });
  assert.is(find(objects, 'Secret').filter((s) => s.metadata.name.includes('backup')).length, 0);
  assert.is(sts(objects).volumes.find((v: any) => v.name === 'pgbackrest-tls').secret.secretName, 'my-backup-tls');
  assert.is(podOf(cronJobs(objects)[0]!).volumes.find((v: any) => v.name === 'pgbackrest-tls').secret.secretName, 'my-backup-tls');
});
sidecar.run();

const cron = suite('backup CronJobs');
cron('Forbid, history limits, backoff, deadlines, time zone and suspend come from values', () => {
  const objects = renderWith({
    'backups.schedules.timeZone': 'Europe/Berlin',
    'backups.schedules.suspend': true,
    'backups.job.backoffLimit': 4,
    'backups.job.successfulJobsHistoryLimit': 5,
    'backups.job.failedJobsHistoryLimit': 7,
    'backups.job.activeDeadlineSeconds': 7200,
  });
  const jobs = cronJobs(objects);
  assert.is(jobs.length, 2, 'defaults: full weekly and diff daily, incr off');
  for (const j of jobs) {
    assert.is(j.spec.concurrencyPolicy, 'Forbid');
    assert.is(j.spec.timeZone, 'Europe/Berlin');
    assert.is(j.spec.suspend, true);
    assert.is(j.spec.successfulJobsHistoryLimit, 5);
    assert.is(j.spec.failedJobsHistoryLimit, 7);
    assert.is(j.spec.jobTemplate.spec.backoffLimit, 4);
    assert.is(j.spec.jobTemplate.spec.activeDeadlineSeconds, 7200);
    assert.is(podOf(j).restartPolicy, 'Never');
  }
  const full = one(objects, 'CronJob', `${S0}-backup-full`);
  assert.is(full.spec.schedule, '0 1 * * 0');
  assert.equal(podOf(full).containers[0].command, ['/opt/pgfleet/backup/backup.sh', S0, 'full']);
  assert.is(one(objects, 'CronJob', `${S0}-backup-diff`).spec.schedule, '0 1 * * 1-6');
});
cron('an empty schedule disables that type; only full is enough', () => {
  const objects = renderWith({ 'backups.schedules.diff': '', 'backups.schedules.full': '@weekly' });
  assert.equal(
    cronJobs(objects).map((j) => j.metadata.name),
    [`${S0}-backup-full`],
  );
});
cron('no cluster-wide or namespaced privileges: own ServiceAccount, no token, no Role', () => {
  const objects = renderWith();
  const sa = one(objects, 'ServiceAccount', 'db-pgfleet-backup');
  assert.is(sa.automountServiceAccountToken, false);
  for (const j of cronJobs(objects)) {
    assert.is(podOf(j).serviceAccountName, 'db-pgfleet-backup');
    assert.is(podOf(j).automountServiceAccountToken, false);
    assert.equal(restrictedViolations(podOf(j)), []);
  }
  for (const rb of [...find(objects, 'RoleBinding'), ...find(objects, 'ClusterRoleBinding')]) {
    assert.not.ok(
      rb.subjects.some((s: any) => s.name === 'db-pgfleet-backup'),
      `${rb.metadata.name} binds the backup ServiceAccount`,
    );
  }
  assert.is(find(objects, 'ClusterRole').length, 0);
});
cron('Job pods get the repository-host config, the client certificate (not the server key) and the secrets', () => {
  const pod = podOf(cronJobs(renderWith())[0]!);
  const cfg = pod.volumes.find((v: any) => v.name === 'pgbackrest-config').configMap;
  assert.equal(cfg.items, [{ key: 'repo-host.conf', path: 'pgbackrest.conf' }]);
  assert.equal(
    pod.volumes.find((v: any) => v.name === 'pgbackrest-tls').secret.items.map((i: any) => i.key),
    ['ca.crt', 'client.crt', 'client.key'],
  );
  const env = pod.containers[0].env.map((e: any) => e.name);
  assert.ok(env.includes('PGBACKREST_REPO1_S3_KEY') && env.includes('PGBACKREST_REPO1_CIPHER_PASS'));
});
cron('names stay within 52 characters with a long release name', () => {
  const objects = render({ set: { ...BASE, shards: 12, 'backups.verify.enabled': true }, release: 'a-very-long-release-name-for-orders-eu-west' }).objects;
  for (const j of find(objects, 'CronJob')) assert.ok(j.metadata.name.length <= 52, `${j.metadata.name} is ${j.metadata.name.length} characters`);
  assert.is(new Set(find(objects, 'CronJob').map((j) => j.metadata.name)).size, find(objects, 'CronJob').length);
});
cron('the backup script skips (exit 0) when another backup holds the stanza lock, and fails otherwise', () => {
  const script = one(renderWith(), 'ConfigMap', 'db-pgfleet-backup-scripts').data['backup.sh'] as string;
  assert.match(script, /run check \|\| finish \$\?\n(\s*#.*\n)*\s*run --type="\$type" backup\n\s*rc=\$\?\n\s*if \[ "\$rc" = 50 \]; then log "another backup/);
  assert.ok(script.indexOf('until run stanza-create') < script.indexOf('run check'), 'a missing stanza is created before check');
});
cron.run();

const net = suite('backup NetworkPolicies');
net("database pods: 8432 only from the shard's backup Jobs; egress to the S3 ports", () => {
  const objects = render({ values: [ci('20-backups-values.yaml')] }).objects;
  const np = one(objects, 'NetworkPolicy', S1);
  const rule = np.spec.ingress.find((r: any) => r.ports.some((p: any) => p.port === 8432));
  assert.equal(rule.from, [
    {
      podSelector: {
        matchLabels: {
          'app.kubernetes.io/name': 'pgfleet',
          'app.kubernetes.io/instance': 'db',
          'app.kubernetes.io/component': 'backup',
          'pgfleet.io/shard': '1',
        },
      },
    },
  ]);
  const s3 = np.spec.egress.find((r: any) => r.ports.some((p: any) => p.port === 9000));
  assert.equal(s3.ports.map((p: any) => p.port).sort(), [443, 9000]);
});
net("backup Jobs: no ingress; egress to DNS, S3, their shard's TLS servers and the Pushgateway", () => {
  const objects = render({ values: [ci('20-backups-values.yaml')] }).objects;
  const np = one(objects, 'NetworkPolicy', `${S0}-backup-jobs`);
  assert.equal(np.spec.ingress, []);
  const ports = np.spec.egress.flatMap((r: any) => r.ports.map((p: any) => p.port)).sort((a: number, b: number) => a - b);
  assert.equal(ports, [53, 53, 443, 8432, 9000, 9091]);
  const tls = np.spec.egress.find((r: any) => r.ports[0].port === 8432);
  assert.is(tls.to[0].podSelector.matchLabels['pgfleet.io/shard'], '0');
  assert.is(tls.to[0].podSelector.matchLabels['app.kubernetes.io/component'], 'database');
  const verify = one(objects, 'NetworkPolicy', `${S0}-backup-verify`);
  assert.not.ok(
    verify.spec.egress.some((r: any) => r.ports.some((p: any) => p.port === 8432)),
    'verification never reaches the database pods',
  );
});
net.run();

const restore = suite('point-in-time restore');
const bootstrapOf = (set: SetValues, shard = S0) => patroniConfig(renderWith({ 'restore.enabled': true, ...set }), shard).bootstrap;
restore('custom bootstrap: pgbackrest restore from the source stanza per shard, pgBackRest keeps its recovery settings', () => {
  const objects = render({ values: [ci('21-restore-values.yaml')] }).objects;
  for (const [shard, src] of [
    [S0, 'orders-pgfleet-shard-0'],
    [S1, 'orders-pgfleet-shard-1'],
  ]) {
    const b = patroniConfig(objects, shard!).bootstrap;
    assert.is(b.method, 'pgbackrest_restore');
    assert.is(b.pgbackrest_restore.keep_existing_recovery_conf, true);
    assert.is(b.pgbackrest_restore.no_params, true);
    assert.is(
      b.pgbackrest_restore.command,
      `pgbackrest --stanza=${src} --pg1-path=/var/lib/postgresql/data/pgdata --repo=1 --delta --type=time "--target=2026-11-01 12:00:00+00" --target-action=promote restore`,
    );
    assert.ok(b.initdb, 'initdb settings stay for a later re-bootstrap without restore');
    assert.is(
      patroniConfig(objects, shard!).postgresql.parameters.archive_command,
      `pgbackrest --stanza=${shard} archive-push "%p"`,
      'the new cluster archives to its own stanza',
    );
  }
  assert.is(chartEnvOf(objects).PGFLEET_BACKUP_AFTER_RESTORE, 'true', 'a restored cluster takes a full backup of its new timeline');
});
restore('targets: latest, lsn, name, immediate; exclusive, timeline, set and repository', () => {
  assert.match(bootstrapOf({}).pgbackrest_restore.command, new RegExp(`--stanza=${S0} .*--type=default restore$`));
  assert.match(
    bootstrapOf({ 'restore.target.type': 'lsn', 'restore.target.lsn': '0/3000060', 'restore.target.exclusive': true }).pgbackrest_restore.command,
    '--type=lsn "--target=0/3000060" --target-exclusive --target-action=promote',
  );
  assert.match(
    bootstrapOf({ 'restore.target.type': 'name', 'restore.target.name': 'before migration' }).pgbackrest_restore.command,
    '--type=name "--target=before migration" --target-action=promote',
  );
  assert.match(bootstrapOf({ 'restore.target.type': 'immediate' }).pgbackrest_restore.command, '--type=immediate --target-action=promote restore');
  const cmd = bootstrapOf({
    'restore.set': '20261101-010002F',
    'restore.target.timeline': 'current',
    'restore.repository': 2,
    'backups.repo2.enabled': true,
    'backups.repo2.s3.endpoint': 'minio',
    'backups.repo2.s3.bucket': 'dr-bucket',
    'backups.repo2.s3.region': 'x',
    'backups.repo2.s3.existingSecret': 'm',
    'backups.repo2.encryption.enabled': false,
  }).pgbackrest_restore.command;
  assert.match(cmd, '--repo=2 --delta --set=20261101-010002F --type=default --target-timeline=current restore');
});
restore('Patroni splits the command like a shell: the time target stays one argument', () => {
  const cmd = bootstrapOf({ 'restore.target.type': 'time', 'restore.target.time': '2026-11-01 12:00:00.5+01:00' }).pgbackrest_restore.command as string;
  // shlex-equivalent split for the quoting the chart uses (double quotes, no escapes).
  const args = [...cmd.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
  assert.ok(args.includes('--target=2026-11-01 12:00:00.5+01:00'), args.join(' | '));
});
restore.run();

const verify = suite('restore verification');
verify('a CronJob per shard restores into a generic ephemeral scratch volume and runs the sanity checks', () => {
  const objects = renderWith({ shards: 2, 'backups.verify.enabled': true, 'backups.verify.schedule': '15 3 * * *', 'backups.verify.scratch.size': '20Gi' });
  const jobs = cronJobs(objects, 'backup-verify');
  assert.equal(
    jobs.map((j) => j.metadata.name),
    [`${S0}-backup-verify`, `${S1}-backup-verify`],
  );
  const j = jobs[1]!;
  assert.is(j.spec.schedule, '15 3 * * *');
  assert.is(j.spec.concurrencyPolicy, 'Forbid');
  const pod = podOf(j);
  assert.equal(pod.containers[0].command, ['/opt/pgfleet/backup/verify.sh', S1, 'app', '1800']);
  const scratch = pod.volumes.find((v: any) => v.name === 'scratch');
  assert.is(scratch.ephemeral.volumeClaimTemplate.spec.resources.requests.storage, '20Gi');
  assert.is(pod.containers[0].volumeMounts.find((m: any) => m.name === 'scratch').mountPath, '/var/lib/postgresql/data');
  assert.equal(pod.volumes.find((v: any) => v.name === 'pgbackrest-config').configMap.items, [{ key: 'verify.conf', path: 'pgbackrest.conf' }]);
  assert.not.ok(
    pod.volumes.some((v: any) => v.name === 'pgbackrest-tls'),
    'no client certificate: it never talks to the database pods',
  );
  assert.equal(restrictedViolations(pod), []);
});
verify('the script restores, starts PostgreSQL without network, checks databases and reports metrics', () => {
  const objects = renderWith({ 'backups.verify.enabled': true, 'backups.pushgatewayUrl': 'http://pushgateway.monitoring:9091' });
  const script = one(objects, 'ConfigMap', 'db-pgfleet-backup-scripts').data['verify.sh'] as string;
  const job = find(objects, 'CronJob').find((c) => c.metadata.name.endsWith('-verify'))!;
  assert.equal(chartEnv(job.spec.jobTemplate.spec.template.spec.containers[0]), {
    PGFLEET_PUSHGATEWAY_URL: 'http://pushgateway.monitoring:9091',
    PGFLEET_PGDATA: '/var/lib/postgresql/data/pgdata',
    PGFLEET_SUPERUSER: 'postgres',
  });
  for (const needle of [
    '--type=immediate --target-action=promote restore',
    "listen_addresses=''",
    'pg_is_in_recovery()',
    'pgfleet_backup_verify_success',
    'VERIFY OK',
    'VERIFY FAILED',
    'grep -qx "$appdb"',
  ]) {
    assert.ok(script.includes(needle), `verify.sh lacks ${needle}`);
  }
});
verify.run();

const notes = suite('backup NOTES');
function notesOf(set: SetValues): string {
  // NOTES.txt is not rendered by `helm template`: render pgfleet.backup.notes through a throwaway template.
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-notes-'));
  try {
    cpSync(chartDir, join(dir, 'pgfleet'), { recursive: true });
    writeFileSync(
      join(dir, 'pgfleet', 'templates', 'zz-notes.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  text: {{ include "pgfleet.backup.notes" . | toJson }}\n',
    );
    const objects = render({ chart: join(dir, 'pgfleet'), set, args: ['--show-only', 'templates/zz-notes.yaml'] }).objects;
    return one(objects, 'ConfigMap', 'notes').data.text;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
notes('warns when backups are disabled', () => {
  assert.match(notesOf({}), 'WARNING: backups are DISABLED');
});
notes('shows how to run a backup now and how to restore', () => {
  const text = notesOf({ ...BASE });
  assert.match(text, `create job --from=cronjob/${S0}-backup-full`);
  assert.match(text, `pgbackrest --stanza=${S0} info`);
  assert.match(text, 'restore.enabled=true');
  assert.not.match(text, 'DISABLED');
});
notes.run();
