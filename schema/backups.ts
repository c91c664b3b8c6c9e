// Values for pgBackRest: archiving, scheduled backups, restore verification and point-in-time restore.
// Credentials and the cipher passphrase exist only as Secret references: every object here is closed,
// so a plaintext `accessKey`, `secretKey` or `passphrase` is an unknown key and the schema refuses it.
import { annotations, bool, int, labels, list, map, obj, oneOf, QUANTITY, resources, str, SUBDOMAIN_OR_EMPTY, type Schema } from './dsl.ts';

const SECRET_NAME = '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$';
const SECRET_KEY = '^[-._a-zA-Z0-9]+$';
/** One cron field: `*`, numbers, ranges, steps, lists, and month/day names. */
const CRON_FIELD = '(\\*|[0-9]+(-[0-9]+)?|[A-Za-z]{3}(-[A-Za-z]{3})?)(/[0-9]+)?';
const CRON_LIST = `${CRON_FIELD}(,${CRON_FIELD})*`;
/** A @macro or five cron fields. Field ranges are checked in templates/backup/_validate.tpl. */
export const CRON_STRICT = `^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$|^${CRON_LIST}( +${CRON_LIST}){4}$`;
/** A cron schedule, or empty (disabled). */
export const SCHEDULE = `^$|${CRON_STRICT}`;
/** pgBackRest backup label: full, or full_diff/incr. */
/**
 * A size pgBackRest reads exactly: a whole Kubernetes quantity (no fraction, which pgBackRest refuses), rendered as
 * `<n>KiB`/`MiB`/... for binary suffixes and as bytes for decimal ones (pgBackRest's `MB` means MiB).
 */
const PGBACKREST_SIZE = '[0-9]{1,9}(Ki|Mi|Gi|Ti|k|M|G|T)?';
const BACKUP_SET = '^([0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}[DI])?)?$';

const s3 = (what: string) =>
  obj(`S3-compatible storage of ${what}.`, {
    endpoint: str(
      'S3 endpoint host name, without scheme or port (e.g. `s3.eu-west-1.amazonaws.com`, `minio.storage.svc`). ' + 'Required when the repository is used.',
      '',
      { pattern: '^([a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?)?$' },
    ),
    port: int('S3 endpoint port (HTTPS).', 443, { minimum: 1, maximum: 65535 }),
    bucket: str('Bucket (must already exist).', '', { pattern: '^([a-z0-9][-a-z0-9.]{1,61}[a-z0-9])?$' }),
    region: str('S3 region (pgBackRest signs requests with it; any value for MinIO-style stores, e.g. `us-east-1`).', '', { pattern: '^[-a-z0-9]*$' }),
    path: str(
      'Repository path inside the bucket: `/`, or `/`-separated components of letters, digits, `-`, `_` and `.` that ' +
        'do not begin with `.` (no `..`, no `//`); a trailing `/` is dropped. Empty: `/pgfleet/<namespace>/<fullname>`. ' +
        'Stanzas (one per shard) share it.',
      '',
      { pattern: '^(/|(/[-_a-zA-Z0-9][-_.a-zA-Z0-9]*)+/?)?$' },
    ),
    uriStyle: oneOf('`host` (virtual-hosted, AWS) or `path` (MinIO, Ceph, s3rver).', ['host', 'path'], 'host'),
    verifyTls: bool("Verify the endpoint's TLS certificate. Only turn off for a throwaway test store.", true),
    caSecret: obj("CA bundle to verify the endpoint with (a Secret in the release namespace); empty uses the image's system CAs.", {
      name: str('Secret name.', '', { pattern: SECRET_NAME }),
      key: str('Key holding the PEM CA bundle.', 'ca.crt', { pattern: SECRET_KEY }),
    }),
    keyType: oneOf(
      '`shared`: access keys from `existingSecret`; `auto`: instance credentials; `web-id`: IRSA / web identity ' + '(annotate the ServiceAccounts).',
      ['shared', 'auto', 'web-id'],
      'shared',
    ),
    existingSecret: str('Secret holding the access key id and secret access key (`keyType: shared`). Plaintext keys are never accepted ' + 'in values.', '', {
      pattern: SECRET_NAME,
    }),
    accessKeyIdKey: str('Key of the access key id in `existingSecret`.', 'access-key-id', { pattern: SECRET_KEY }),
    secretAccessKeyKey: str('Key of the secret access key in `existingSecret`.', 'secret-access-key', { pattern: SECRET_KEY }),
  });

const encryption = (what: string) =>
  obj(`Client-side encryption of ${what} (aes-256-cbc); the passphrase only comes from a Secret.`, {
    enabled: bool('Encrypt backups and WAL before they leave the pod. Cannot be changed once the stanza exists.', true),
    existingSecret: str(
      'Secret holding the cipher passphrase (required when enabled). Keep a copy outside the cluster: without it ' + 'nothing can be restored.',
      '',
      { pattern: SECRET_NAME },
    ),
    passphraseKey: str('Key of the passphrase in `existingSecret`.', 'cipher-pass', { pattern: SECRET_KEY }),
  });

const retention = (full: number) =>
  obj('How many backups the repository keeps (expired after each backup).', {
    full: int('Full backups to keep (`fullType: count`) or days to keep them (`fullType: time`).', full, { minimum: 1, maximum: 9999 }),
    fullType: oneOf('`count` or `time` (days).', ['count', 'time'], 'count'),
    diff: int('Differential backups to keep (each needs its full backup).', 6, { minimum: 1, maximum: 9999 }),
  });

const schedule = (what: string, def: string) => str(`Cron schedule of ${what} backups (per shard); empty disables them.`, def, { pattern: SCHEDULE });

export const backups: Record<string, Schema> = {
  backups: obj('pgBackRest: continuous WAL archiving and scheduled backups to S3-compatible storage.', {
    enabled: bool('Archive WAL and run scheduled backups (one stanza per shard; stanza = shard name = Patroni scope).', false),
    s3: s3('the first repository (`repo1`)'),
    encryption: encryption('repo1'),
    retention: retention(2),
    repo2: obj('Optional second repository (another region or provider); archived to and backed up in addition to repo1.', {
      enabled: bool('Use a second repository.', false),
      s3: s3('the second repository (`repo2`)'),
      encryption: encryption('repo2'),
      retention: retention(2),
    }),
    compressType: oneOf('Compression of backups and WAL.', ['none', 'gz', 'bz2', 'lz4', 'zst'], 'zst'),
    compressLevel: int(
      "Compression level; 0 uses pgBackRest's default for the type. Otherwise within the type's range: gz 1-9, bz2 " +
        '1-9, lz4 1-12, zst 1-22 (none takes no level).',
      0,
      { minimum: 0, maximum: 22 },
    ),
    processMax: int('Parallel processes for backup, restore and async archiving.', 2, { minimum: 1, maximum: 64 }),
    bundle: bool('Bundle small files into larger repository objects (fewer S3 requests).', true),
    startFast: bool('Force a checkpoint when a backup starts instead of waiting for the next one.', true),
    archiveTimeout: int(
      'PostgreSQL `archive_timeout` in seconds: a WAL segment is archived at least this often, which bounds the data ' +
        'lost with the whole cluster (backup RPO). 0 disables it; 1-9 are refused.',
      60,
      { minimum: 0, maximum: 86400 },
    ),
    archiveAsync: obj('Asynchronous archiving: WAL is pushed and prefetched in parallel through a spool volume.', {
      enabled: bool('Use `archive-async` (recommended with busy shards or a distant S3).', true),
      spoolSizeLimit: str('Size limit of the spool emptyDir (the spool is a cache; losing it is safe).', '2Gi', { pattern: QUANTITY }),
      pushQueueMax: str(
        '`archive-push-queue-max`: once this much WAL waits to be archived, pgBackRest DROPS it so the primary keeps ' +
          'running (point-in-time recovery cannot cross the gap; the backup Jobs name it and count it in ' +
          '`pgfleet_backup_wal_missing_segments`). `auto`: a quarter of `storage.size`. A size (a whole quantity such as ' +
          '`2Gi` or `500M`) must stay under half of `storage.size`. Empty: never drop WAL; an S3 outage then fills the ' +
          'volume and stops the primary.',
        'auto',
        { pattern: `^(auto|${PGBACKREST_SIZE})?$` },
      ),
      getQueueMax: str(
        '`archive-get-queue-max`: WAL prefetched for replicas and restores, kept in the spool: must be under ' +
          '`spoolSizeLimit` (the kubelet evicts a pod whose emptyDir outgrows its limit).',
        '128Mi',
        { pattern: `^${PGBACKREST_SIZE}$` },
      ),
    }),
    fromStandby: bool('Take backups from a standby (`backup-standby`); the primary only serves the start/stop calls. Needs `replicas >= 1`.', false),
    schedules: obj('Per-shard CronJobs: one per backup type that has a schedule.', {
      full: schedule('full', '0 1 * * 0'),
      diff: schedule('differential', '0 1 * * 1-6'),
      incr: schedule('incremental', ''),
      timeZone: str("CronJob `timeZone` (IANA name); empty uses the controller's zone (usually UTC).", '', { pattern: '^([A-Za-z_]+(/[-+A-Za-z0-9_]+)*)?$' }),
      suspend: bool('Suspend every backup CronJob (archiving continues).', false),
    }),
    job: obj('Settings shared by the backup and verification Jobs.', {
      backoffLimit: int('Retries of a failed backup Job.', 2, { minimum: 0, maximum: 10 }),
      activeDeadlineSeconds: int('Kill a Job running longer than this (0: no limit).', 0, { minimum: 0 }),
      startingDeadlineSeconds: int('Skip a run that could not start within this many seconds of its schedule.', 3600, { minimum: 10 }),
      successfulJobsHistoryLimit: int('Finished Jobs kept per CronJob.', 3, { minimum: 0, maximum: 100 }),
      failedJobsHistoryLimit: int('Failed Jobs kept per CronJob.', 3, { minimum: 0, maximum: 100 }),
      resources: resources('Resources of the backup Job container.', { cpu: '100m', memory: '256Mi' }, { memory: '1Gi' }),
      nodeSelector: labels('Node selector of the Jobs.'),
      tolerations: list('Tolerations of the Jobs.', { type: 'object' }),
      podAnnotations: annotations('Extra annotations on the Job pods.'),
    }),
    server: obj('The `pgbackrest server` sidecar on every database pod: the backup Jobs reach it over mutual TLS on port 8432.', {
      port: int('TLS server port.', 8432, { minimum: 1024, maximum: 65535 }),
      resources: resources('Resources of the sidecar.', { cpu: '10m', memory: '32Mi' }, { memory: '512Mi' }),
      tls: obj('Certificates of the server and of the backup client (CN `pgfleet-backup`).', {
        existingSecret: str(
          'Secret with `ca.crt`, `server.crt`, `server.key`, `client.crt` and `client.key` (client CN `pgfleet-backup`, ' +
            'server SANs covering `*.<shard>-headless.<namespace>.svc`). Empty: Helm generates a CA and both certificates ' +
            'once and reuses them.',
          '',
          { pattern: SECRET_NAME },
        ),
      }),
    }),
    pushgatewayUrl: str(
      'Prometheus Pushgateway base URL (`http://host:9091`) that backup and verification Jobs push `pgfleet_backup_*` ' +
        'metrics to; empty: the metrics are only printed in the Job logs.',
      '',
      { pattern: '^(https?://[^\\s/:]+(:[0-9]{1,5})?(/[^\\s]*)?)?$' },
    ),
    serviceAccount: obj('ServiceAccount of the backup Jobs: no Role, no token mounted (annotate it for IRSA with `keyType: web-id`).', {
      annotations: annotations('ServiceAccount annotations.'),
    }),
    verify: obj('Scheduled restore verification: restore the latest backup of each shard into a scratch volume, start PostgreSQL, run sanity queries.', {
      enabled: bool('Render a verification CronJob per shard.', false),
      schedule: str('Cron schedule of the verification.', '0 5 * * *', { pattern: CRON_STRICT }),
      scratch: obj('Scratch volume the backup is restored into (a generic ephemeral volume, deleted with the pod).', {
        size: str('Size; at least the size of the largest shard.', '10Gi', { pattern: QUANTITY }),
        storageClass: str('StorageClass; empty uses the cluster default.', '', { pattern: SUBDOMAIN_OR_EMPTY, maxLength: 253 }),
      }),
      timeoutSeconds: int('Seconds allowed for PostgreSQL to reach consistency and answer.', 1800, { minimum: 60 }),
      resources: resources('Resources of the verification container (PostgreSQL runs in it).', { cpu: '250m', memory: '512Mi' }, { memory: '2Gi' }),
    }),
    networkPolicy: obj('NetworkPolicy additions for backups (with `networkPolicy.enabled`).', {
      s3Peers: list('NetworkPolicyPeers where the S3 endpoints live; empty allows any destination on the S3 ports.', { type: 'object', minProperties: 1 }),
    }),
  }),
  restore: obj('Point-in-time restore: a NEW release bootstraps every shard from a pgBackRest repository (Patroni custom bootstrap), then promotes.', {
    enabled: bool(
      'Bootstrap every shard with `pgbackrest restore` instead of initdb. Only acts on first bootstrap; existing data ' + 'is never overwritten.',
      false,
    ),
    sourceStanza: str(
      'Stanza to restore shard N from; `{shard}` is replaced by the shard index (e.g. `old-pgfleet-shard-{shard}`). ' +
        "Empty: this release's own stanza names (restore in place after losing the cluster).",
      '',
      { pattern: '^([-_.a-zA-Z0-9{}]+)?$' },
    ),
    repository: int('Repository to restore from (1 or 2).', 1, { minimum: 1, maximum: 2 }),
    set: str('Backup label to restore from (e.g. `20261101-010002F`); empty picks the right one for the target.', '', { pattern: BACKUP_SET }),
    target: obj('Where recovery stops.', {
      type: oneOf(
        '`latest` (end of archived WAL), `time`, `lsn`, `name` (a restore point made with pg_create_restore_point) or ' + '`immediate` (end of the backup).',
        ['latest', 'time', 'lsn', 'name', 'immediate'],
        'latest',
      ),
      time: str('`type: time`: timestamp with time zone, `YYYY-MM-DD HH:MM:SS[.ffffff]+HH[:MM]` or `...Z`.', '', {
        pattern: '^([0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,6})?(Z|[+-][0-9]{2}(:?[0-9]{2})?))?$',
      }),
      lsn: str('`type: lsn`: WAL location such as `0/3000060`.', '', { pattern: '^([0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8})?$' }),
      name: str('`type: name`: restore point name (letters, digits, space and `-_.:@+/=,`).', '', { maxLength: 63, pattern: '^[-A-Za-z0-9_.:@+/=, ]*$' }),
      exclusive: bool('Stop just before the target instead of just after it (time and lsn).', false),
      timeline: str("`recovery_target_timeline`: `current`, `latest` or a number; empty keeps pgBackRest's default.", '', {
        pattern: '^(current|latest|[0-9]+)?$',
      }),
    }),
  }),
};
