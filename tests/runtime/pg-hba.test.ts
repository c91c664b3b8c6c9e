// postgresql.extraPgHba as PostgreSQL 15 reads it. Every line of the corpus below is accepted by the chart; rendered
// with the chart's own rules around it and loaded by a real server (TLS with the chart's Helm-made certificate), it
// parses (pg_hba_file_rules shows no error), and no client gets in without a password or over plaintext, tried for
// real on 127.0.0.1. A positive control (the application role with its password over TLS) shows the tries can
// succeed. Every install scenario's rendered pg_hba.conf (ci, examples, good-values) loads too, and PostgreSQL's own
// reading of it (pg_hba_file_rules) has no network rule without a password, none in plaintext while TLS is on, and
// the superuser on loopback only. The server runs as the postgres user and is stopped by its PID in `after`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { find, one, render, RenderError } from '../../scripts/lib/helm.ts';
import { psqlBin, serverDir, serverFile, startPostgres, type LocalPostgres } from '../../scripts/lib/localpg.ts';
import { mergedValues, scenarioFiles } from '../lib/values.ts';
import { exec, waitUntil } from '../../scripts/lib/proc.ts';

/**
 * Lines the chart accepts, each aimed at 127.0.0.1 so that the connection tries below meet it, and whether the
 * application role with its password over TLS (no client certificate) gets in with that line in place.
 */
const ACCEPTED: [string, boolean][] = [
  ['hostssl app app 127.0.0.1/32 scram-sha-256', true],
  ['hostssl\tapp,postgres\tapp,+readers\t127.0.0.0/8\tscram-sha-256', true],
  ['hostssl all app 127.0.0.1 255.255.255.255 scram-sha-256', true],
  ['hostssl sameuser all samehost scram-sha-256', true],
  ['hostssl samerole app samenet scram-sha-256', true],
  ['hostssl replication app,replicator 127.0.0.1/32 scram-sha-256', true],
  ['hostssl all app all cert clientcert=verify-full map=certs', false],
  ['hostssl all app 127.0.0.1/32 scram-sha-256 clientcert=verify-ca', false],
  ['hostssl all app ::1/128 scram-sha-256', true],
  ['hostssl all app .example.com scram-sha-256', true],
  ['hostssl all app all reject', false],
  ['local app app scram-sha-256', true],
  ['local all all peer map=local', true],
  ['local all app reject  ', true],
];
/** Lines the chart refuses, each for one of the reasons PostgreSQL would let a client in without a password or in plaintext. */
const REFUSED = [
  'host all app 127.0.0.1/32 scram-sha-256',
  'hostnossl all app 127.0.0.1/32 scram-sha-256',
  'hostssl all app 127.0.0.1/32 trust',
  'hostssl all app 127.0.0.1/32 Trust',
  'hostssl all app 127.0.0.1/32 password',
  'hostssl all app 127.0.0.1/32 md5',
  'hostssl all app 127.0.0.1/32 ident',
  'hostssl all app 127.0.0.1/32 peer',
  'hostssl replication all 127.0.0.1/32 scram-sha-256',
  'hostssl all postgres 127.0.0.1/32 scram-sha-256',
  'local all app trust',
  'hostssl all app 127.0.0.1/32 scram-sha-256\nhost all all all trust',
  'hostssl "all" app 127.0.0.1/32 scram-sha-256',
  'hostssl all @admins 127.0.0.1/32 scram-sha-256',
  'hostssl all app 127.0.0.1/32 cert # clientcert=verify-full',
];

/** helm template with these extra lines (a values file: --set would split them at commas). */
function renderLines(lines: string[]) {
  const file = join(st.dir, 'values.json');
  writeFileSync(file, JSON.stringify({ shards: 1, postgresql: { extraPgHba: lines } }));
  return render({ values: [file] });
}
/** The pg_hba lines Patroni writes for these extra lines, and the chart's certificate. */
function rendered(lines: string[]) {
  const objects = renderLines(lines).objects;
  const config = parse(one(objects, 'ConfigMap', 'db-pgfleet-shard-0-patroni').data['patroni.yml']);
  const tls = one(objects, 'Secret', 'db-pgfleet-tls').data as Record<string, string>;
  return { hba: config.postgresql.pg_hba as string[], tls: (k: string) => Buffer.from(tls[k]!, 'base64') };
}

const st: { dir: string; pg?: LocalPostgres } = { dir: '' };
const hba = suite('pg_hba: every accepted line loads in PostgreSQL 15 and admits nobody without a password or TLS');

hba.before(async () => {
  st.dir = serverDir(mkdtempSync(join(tmpdir(), 'pgfleet-hba-')));
  const { hba: lines, tls } = rendered([]);
  for (const k of ['tls.crt', 'tls.key', 'ca.crt']) serverFile(join(st.dir, k), tls(k));
  st.pg = await startPostgres({
    dir: join(st.dir, 'pg'),
    superuserPassword: 'su-pw',
    hba: lines,
    parameters: { ssl: 'on', ssl_cert_file: join(st.dir, 'tls.crt'), ssl_key_file: join(st.dir, 'tls.key'), ssl_ca_file: join(st.dir, 'ca.crt'), fsync: 'off' },
  });
  for (const sql of [
    "CREATE ROLE app LOGIN PASSWORD 'app-pw'",
    "CREATE ROLE replicator LOGIN REPLICATION PASSWORD 'rep-pw'",
    'CREATE ROLE readers',
    'CREATE DATABASE app OWNER app',
  ]) {
    const r = st.pg.psql(sql);
    if (r.status !== 0) throw new Error(`${sql}: ${r.stderr}`);
  }
});
hba.after(async () => {
  await st.pg?.stop();
  if (st.dir) rmSync(st.dir, { recursive: true, force: true });
});

/** Writes pg_hba.conf as Patroni would and waits until the server has reloaded it. */
async function load(lines: string[]): Promise<void> {
  const pg = st.pg!;
  serverFile(join(pg.dataDir, 'pg_hba.conf'), `${lines.join('\n')}\n`);
  const reloads = () => pg.daemon.log.split('received SIGHUP').length;
  const before = reloads();
  assert.is(pg.psql('SELECT pg_reload_conf()').status, 0);
  await waitUntil('the reload', () => reloads() > before, { timeoutMs: 10_000, dead: pg.daemon });
}

/** A connection try over TCP to 127.0.0.1; true when it got in. */
async function getsIn(conninfo: string, password?: string): Promise<boolean> {
  const env: Record<string, string> = { PGPASSFILE: '/dev/null', PGSSLROOTCERT: join(st.dir, 'ca.crt') };
  if (password) env.PGPASSWORD = password;
  const r = await exec([psqlBin, '-X', '-A', '-t', `host=127.0.0.1 port=${st.pg!.port} connect_timeout=5 ${conninfo}`, '-c', 'SELECT 1'], {
    env,
    timeoutMs: 20_000,
  });
  return r.status === 0;
}

hba('the chart refuses every line of the refused corpus, naming it', () => {
  for (const [i, line] of REFUSED.entries()) {
    try {
      renderLines([line]);
    } catch (e) {
      assert.instance(e, RenderError);
      assert.ok(/extraPgHba(\[0\]|\/0)/.test((e as Error).message), `${JSON.stringify(line)}: refused without naming it: ${(e as Error).message}`);
      continue;
    }
    assert.unreachable(`REFUSED[${i}] ${JSON.stringify(line)} was accepted`);
  }
});

hba(`all ${ACCEPTED.length} accepted lines at once load without a parse error`, async () => {
  const lines = rendered(ACCEPTED.map(([l]) => l)).hba;
  await load(lines);
  const errors = st.pg!.psql('SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL');
  assert.is(errors.status, 0, errors.stderr);
  assert.is(errors.stdout.trim(), '', `pg_hba_file_rules reports errors:\n${errors.stdout}\n${lines.join('\n')}`);
  assert.is(Number(st.pg!.psql('SELECT count(*) FROM pg_hba_file_rules').stdout.trim()), lines.length);
});

hba("each accepted line, alone with the chart's rules: no password or no TLS, no entry; the application role with its password over TLS gets in", async () => {
  for (const [line, appGetsIn] of ACCEPTED) {
    await load(rendered([line]).hba);
    const errors = st.pg!.psql('SELECT error FROM pg_hba_file_rules WHERE error IS NOT NULL').stdout.trim();
    assert.is(errors, '', `${JSON.stringify(line)}: ${errors}`);
    const roles = {
      app: ['user=app dbname=app', 'app-pw'],
      replicator: ['user=replicator dbname=replication replication=true', 'rep-pw'],
      postgres: ['user=postgres dbname=postgres', 'su-pw'],
    };
    for (const [who, [conninfo, password]] of Object.entries(roles)) {
      assert.not.ok(await getsIn(`${conninfo} sslmode=require`), `${JSON.stringify(line)}: ${who} got in over TLS without a password`);
      // the superuser's own loopback lines (inside the pod) admit it in plaintext with its password, by design
      if (who !== 'postgres') assert.not.ok(await getsIn(`${conninfo} sslmode=disable`, password), `${JSON.stringify(line)}: ${who} got in without TLS`);
    }
    assert.is(
      await getsIn('user=app dbname=app sslmode=verify-ca', 'app-pw'),
      appGetsIn,
      `${JSON.stringify(line)}: the application role with its password over TLS ${appGetsIn ? 'was refused' : 'got in'}`,
    );
  }
});
hba("every install scenario's pg_hba loads, and PostgreSQL reads no passwordless, plaintext (TLS on) or remote-superuser network rule in it", async () => {
  let sets = 0;
  for (const file of scenarioFiles()) {
    const values = mergedValues(file) as { tls: { enabled: boolean }; auth: { superuser: string } };
    const configs = find(render({ values: [file] }).objects, 'ConfigMap').filter((c) => c.metadata.name.endsWith('-patroni'));
    const distinct = new Set(configs.map((c) => JSON.stringify(parse(c.data['patroni.yml']).postgresql.pg_hba)));
    for (const hbaSet of distinct) {
      sets += 1;
      await load(JSON.parse(hbaSet));
      const rules = JSON.parse(st.pg!.psql("SELECT coalesce(json_agg(r), '[]') FROM pg_hba_file_rules r").stdout) as {
        line_number: number;
        type: string;
        user_name: string[];
        address: string | null;
        auth_method: string;
        error: string | null;
      }[];
      const loopback = (r: (typeof rules)[number]) => ['127.0.0.1', '::1'].includes(r.address ?? '');
      const at = (r: (typeof rules)[number]) => `${file.replace(/.*\//, '')} line ${r.line_number} (${r.type} ${r.user_name} ${r.address} ${r.auth_method})`;
      for (const r of rules) {
        assert.is(r.error, null, `${at(r)}: ${r.error}`);
        if (r.type === 'local' || r.auth_method === 'reject') continue;
        assert.ok(['scram-sha-256', 'cert'].includes(r.auth_method), `${at(r)}: a network rule without a password or certificate`);
        if (values.tls.enabled && !loopback(r)) assert.is(r.type, 'hostssl', `${at(r)}: plaintext while TLS is on`);
      }
      const superuserRemote = rules.find(
        (r) => r.type !== 'local' && !loopback(r) && (r.user_name.includes(values.auth.superuser) || r.user_name.includes('all')),
      );
      assert.is(
        superuserRemote?.auth_method,
        'reject',
        `${superuserRemote ? at(superuserRemote) : file}: the first rule for a remote superuser must reject it`,
      );
    }
  }
  console.log(`  ${scenarioFiles().length} scenarios, ${sets} distinct pg_hba files loaded`);
});
hba.run();
