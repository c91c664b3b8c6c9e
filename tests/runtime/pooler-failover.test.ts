// Failover-following, for real: two PostgreSQL 15 servers (A = the old primary, B = the promoted one) bootstrapped by
// the rendered post-bootstrap.sh, a TCP forwarder standing in for the shard's -primary Service (existing flows keep
// their backend when it is retargeted, as with kube-proxy), and PgBouncer 1.18 running the rendered pgbouncer.ini with
// SCRAM auth_query. Without the callback, a pooled server connection stays on A after the Service moves; the rendered
// on-role-change.sh makes the very next transaction land on B. Then the rendered switchover script moves the shard
// back to A against a fake Patroni REST API: PgBouncer must be paused when the switchover request arrives, a
// transaction started meanwhile must wait and land on A, and the pooler must be resumed even when Patroni refuses.
// All processes listen on 127.0.0.1, run as the postgres user and are stopped by PID in `after`.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { one, render } from '../../scripts/lib/helm.ts';
import {
  PGBIN,
  pgbouncerBin,
  postBootstrap,
  serverDir,
  startPgBouncer,
  startPostgres,
  type LocalPgBouncer,
  type LocalPostgres,
} from '../../scripts/lib/localpg.ts';
import { expand } from '../../scripts/lib/local/pod.ts';
import { chartEnv, dbContainer } from '../../scripts/lib/contract.ts';
import { exec as run, freePort } from '../../scripts/lib/proc.ts';

const passwords = {
  PGFLEET_ADMIN_PASSWORD: 'admin-pw',
  PGFLEET_APP_PASSWORD: 'app-pw"x',
  PGFLEET_POOLER_PASSWORD: 'pooler-pw',
  PGFLEET_MONITOR_PASSWORD: 'monitor-pw',
}; // as the pod's env (monitoring is on by default)
const rendered = render({ set: { shards: 1, replicas: 1, 'tls.enabled': false } }).objects;
const scripts = one(rendered, 'ConfigMap', 'db-pgfleet-scripts').data;
const poolCm = one(rendered, 'ConfigMap', 'db-pgfleet-shard-0-pgbouncer-rw').data;

type Pg = LocalPostgres & { label: string };
const st: { dir: string; pgs: Pg[]; bouncer?: LocalPgBouncer; proxy?: Server; proxyPort: number; target: number; flows: Socket[]; api?: HttpServer } = {
  dir: '',
  pgs: [],
  proxyPort: 0,
  target: 0,
  flows: [],
};
const logs = () => [...st.pgs.map((p) => p.daemon.log), st.bouncer?.daemon.log ?? ''].join('\n');

/** One transaction through PgBouncer as the application role: which server answered? */
async function whichServer(): Promise<string> {
  const r = await run(
    ['psql', '-X', '-A', '-t', `host=127.0.0.1 port=${st.bouncer!.port} dbname=app user=app connect_timeout=5`, '-c', "SELECT current_setting('port')"],
    { env: { PGPASSWORD: passwords.PGFLEET_APP_PASSWORD }, timeoutMs: 30_000 },
  );
  if (r.status !== 0) throw new Error(`query through PgBouncer failed: ${r.stderr}\n${logs()}`);
  const port = Number(r.stdout.trim());
  return st.pgs.find((p) => p.port === port)?.label ?? `port ${port}`;
}

/** The pooler variables pgfleet.pooler.env sets on a database pod, pointing at the test's PgBouncer. */
const poolerEnv = () => ({
  PGFLEET_POOLER_HOSTS: '127.0.0.1',
  PGFLEET_POOLER_ADMIN_DB: 'pgbouncer',
  PGFLEET_POOLER_ADMIN_USER: 'pgfleet_pooler_admin',
  PGFLEET_POOLER_ADMIN_PASSWORD: 'bouncer-admin',
  PGFLEET_POOLER_PORT: String(st.bouncer!.port),
});

/** The rendered on-role-change.sh as Patroni runs it on a promoted member; `repeatAfter` seconds before its second round. */
function onRoleChange(repeatAfter: number) {
  writeFileSync(join(st.dir, 'on-role-change.sh'), scripts['on-role-change.sh']);
  return run(['sh', join(st.dir, 'on-role-change.sh'), 'on_role_change', 'primary', 'db-pgfleet-shard-0'], {
    env: { ...poolerEnv(), PGFLEET_POOLER_REPEAT_AFTER: String(repeatAfter) },
    timeoutMs: 30_000,
  });
}

const failover = suite('pooler failover: on-role-change.sh moves PgBouncer off a demoted primary');

failover.before(async () => {
  st.dir = serverDir(mkdtempSync(join(tmpdir(), 'pgfleet-failover-')));
  for (const label of ['A', 'B']) {
    const pg = await startPostgres({ dir: join(st.dir, label), name: `postgres ${label}`, parameters: { fsync: 'off' } });
    st.pgs.push(Object.assign(pg, { label }));
    postBootstrap(pg, scripts['post-bootstrap.sh'], { ...chartEnv(dbContainer(rendered)), ...passwords });
  }
  // B is "a replica of A": same SCRAM secrets (physical replication copies pg_authid).
  for (const role of ['app', 'pgfleet_pooler']) {
    const secret = st.pgs[0]!.psql(`SELECT rolpassword FROM pg_authid WHERE rolname = '${role}'`).stdout.trim();
    const r = st.pgs[1]!.psql(`ALTER ROLE ${role} PASSWORD '${secret}'`);
    if (r.status !== 0) throw new Error(r.stderr);
  }

  // The -primary Service: new flows go to the current target, existing flows keep theirs.
  st.target = st.pgs[0]!.port;
  st.proxyPort = await freePort();
  st.proxy = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: st.target });
    st.flows.push(client, upstream);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  }).listen(st.proxyPort, '127.0.0.1');

  // PgBouncer with the rendered config: only listen address, paths and the Service address differ.
  st.bouncer = await startPgBouncer({
    dir: join(st.dir, 'pgbouncer'),
    ini: poolCm['pgbouncer.ini'],
    makeUserlist: poolCm['make-userlist.sh'],
    secrets: { 'pooler-password': passwords.PGFLEET_POOLER_PASSWORD, 'admin-password': 'bouncer-admin', 'stats-password': 'bouncer-stats' },
    server: { host: '127.0.0.1', port: st.proxyPort },
    ready: { user: 'pgfleet_pooler_admin', password: 'bouncer-admin' },
  });
});

failover.after(async () => {
  await new Promise<void>((r) => (st.api ? st.api.close(() => r()) : r()));
  await st.bouncer?.stop();
  for (const s of st.flows) s.destroy();
  await new Promise<void>((r) => (st.proxy ? st.proxy.close(() => r()) : r()));
  await Promise.all(st.pgs.map((pg) => pg.stop()));
  if (st.dir) rmSync(st.dir, { recursive: true, force: true });
});

failover('the tools are installed (npm run setup:local)', () => {
  assert.ok(pgbouncerBin, 'pgbouncer');
  assert.ok(existsSync(join(PGBIN, 'postgres')), 'postgresql-15');
});

failover('SCRAM through auth_query and pgfleet.user_lookup: the app role logs in via PgBouncer, served by A', async () => {
  assert.is(await whichServer(), 'A');
});

failover('the `helm test` pod, as rendered, writes and reads back a row as the application role (its script and env run here)', async () => {
  const pod = one(rendered, 'Pod', 'db-pgfleet-test-shard-0');
  const c = pod.spec.containers[0];
  const env = Object.fromEntries(c.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, String(e.value)]));
  assert.equal([env.POOLER_RW, env.POOLER_RO, env.POOLER_PORT], ['db-pgfleet-shard-0-pgbouncer-rw', 'db-pgfleet-shard-0-pgbouncer-ro', '6432']);
  // Here the Services are 127.0.0.1: PostgreSQL A for -primary, the one PgBouncer (to A) for both pools.
  const local = { PGHOST: '127.0.0.1', PGPORT: String(st.pgs[0]!.port), POOLER_RW: '127.0.0.1', POOLER_RO: '127.0.0.1', POOLER_PORT: String(st.bouncer!.port) };
  const test = (extra: Record<string, string>) =>
    run(
      c.command.map((a: string) => expand(a, env)),
      {
        // as the kubelet hands it over
        env: { ...env, ...local, ...extra, PGPASSWORD: passwords.PGFLEET_APP_PASSWORD, PATH: `${PGBIN}:${process.env.PATH}` },
        timeoutMs: 30_000,
      },
    );
  const r = await test({ POOLER_RO_STANDBY: 'false' });
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /db-pgfleet-shard-0: write and read through 127\.0\.0\.1 \(\) ok/);
  assert.match(r.stdout, /db-pgfleet-shard-0: write and read through 127\.0\.0\.1 \(disable\) ok/, 'through the rw pool');
  assert.match(r.stdout, /db-pgfleet-shard-0: read through 127\.0\.0\.1 \(disable, standby: false\) ok/, 'through the ro pool');
  assert.is(st.pgs[0]!.psql('SELECT count(*) FROM pgfleet_helm_test', 'app').stdout.trim(), '0', 'the test rows are deleted again');
  // the ro check fails when the ro pool reaches a primary where a standby is expected (replicas > 0)
  const wrong = await test({});
  assert.is.not(wrong.status, 0);
  assert.match(wrong.stdout, /reached a server with pg_is_in_recovery\(\) = 'false', expected true/);
});

failover('after the Service moves, the pooled server connection stays pinned to A (the bug class)', async () => {
  st.target = st.pgs[1]!.port; // Patroni promoted B; the -primary Service now selects it
  for (let i = 0; i < 3; i++) assert.is(await whichServer(), 'A', 'still the old primary: nothing told PgBouncer');
});

failover('on-role-change.sh (as Patroni runs it) sends RECONNECT; the next transaction is served by B', async () => {
  const started = Date.now();
  const r = await onRoleChange(0);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /RECONNECT sent to 1 pooler pod\(s\), 0 failed/);
  assert.ok(Date.now() - started < 5000, 'well within one Patroni loop');
  for (let i = 0; i < 3; i++) assert.is(await whichServer(), 'B');
});

/**
 * A fake Patroni REST API for the switchover script: this member's /patroni, the shard's /cluster, and POST
 * /switchover answered by `onSwitchover` (which records what it saw and moves the Service like Patroni would).
 */
type Api = { role: string; members: object[]; onSwitchover: (body: any) => Promise<[number, string]>; requests: string[] };
const api: Api = { role: 'master', members: [], onSwitchover: async () => [503, 'not expected'], requests: [] };
async function startApi(): Promise<number> {
  const port = await freePort();
  st.api = createHttpServer((req, res) => {
    let body = '';
    req
      .on('data', (d) => (body += d))
      .on('end', async () => {
        api.requests.push(`${req.method} ${req.url}`);
        const [status, text] =
          req.url === '/patroni'
            ? [200, JSON.stringify({ role: api.role, state: 'running', patroni: { scope: 'db-pgfleet-shard-0' } })]
            : req.url === '/cluster'
              ? [200, JSON.stringify({ members: api.members })]
              : req.method === 'POST' && req.url === '/switchover'
                ? await api.onSwitchover(JSON.parse(body))
                : [404, 'no such endpoint'];
        res.writeHead(status).end(text);
      });
  }).listen(port, '127.0.0.1');
  return port;
}

async function switchover(args: string[], apiPort: number) {
  writeFileSync(join(st.dir, 'switchover'), scripts.switchover);
  return run(['python3', join(st.dir, 'switchover'), ...args], {
    env: {
      ...chartEnv(dbContainer(rendered)),
      ...poolerEnv(),
      PGFLEET_PATRONI_API: `http://127.0.0.1:${apiPort}`,
      PGFLEET_PRIMARY_SERVICE: `127.0.0.1:${st.proxyPort}`,
      PGFLEET_POOLER_PASSWORD: passwords.PGFLEET_POOLER_PASSWORD,
    },
    timeoutMs: 60_000,
  });
}

failover(
  'switchover script: PgBouncer is paused when Patroni gets the request; a transaction started meanwhile waits and lands on the new primary',
  async () => {
    const apiPort = await startApi();
    const url = `http://127.0.0.1:${apiPort}/patroni`;
    api.members = [
      { name: 'db-pgfleet-shard-0-1', role: 'leader', state: 'running', host: '127.0.0.1', api_url: url },
      { name: 'db-pgfleet-shard-0-0', role: 'sync_standby', state: 'streaming', host: '127.0.0.1', api_url: url },
    ];
    let request: unknown;
    let during: Promise<string> | undefined;
    let heldUntilPromotion = false;
    api.onSwitchover = async (body) => {
      request = body;
      // A client arriving now: were PgBouncer not paused, it would be served by B (still the Service's target) at once.
      let done = false;
      during = whichServer().finally(() => (done = true));
      await new Promise((r) => setTimeout(r, 700));
      heldUntilPromotion = !done;
      st.target = st.pgs[0]!.port; // A promoted, the Service follows
      return [200, 'Successfully switched over to "db-pgfleet-shard-0-0"'];
    };
    const r = await switchover(['--candidate', 'db-pgfleet-shard-0-0'], apiPort);
    assert.is(r.status, 0, r.stderr);
    assert.equal(request, { leader: 'db-pgfleet-shard-0-1', candidate: 'db-pgfleet-shard-0-0' });
    assert.match(r.stderr, /PAUSE: 1 of 1 pooler pod\(s\) paused/);
    assert.ok(heldUntilPromotion, 'the client was held while Patroni switched over');
    assert.is(await during, 'A', 'the held transaction ran on the new primary, without an error');
    assert.match(r.stderr, /RESUME: 1 of 1 pooler pod\(s\) resumed/);
    assert.is(await whichServer(), 'A', 'resumed: new clients are served at once');
  },
);

failover("switchover script: when Patroni refuses, it exits non-zero with Patroni's reason and the pooler is resumed", async () => {
  api.requests = [];
  api.onSwitchover = async () => [412, 'candidate name does not match with sync_standby'];
  const r = await switchover(['--candidate', 'db-pgfleet-shard-0-0'], (st.api!.address() as any).port);
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /Patroni refused the switchover \(412\): candidate name does not match/);
  assert.ok(api.requests.includes('POST /switchover'));
  assert.is(await whichServer(), 'A', 'resumed after the refusal (a paused PgBouncer would time the client out)');
});

failover('switchover script --if-leader (the preStop hook): nothing on a replica, nothing without a healthy replica', async () => {
  const port = (st.api!.address() as any).port;
  api.onSwitchover = async () => {
    throw new Error('no switchover expected');
  };
  api.role = 'replica';
  api.requests = [];
  let r = await switchover(['--if-leader'], port);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /this member is a replica: nothing to hand over/);
  api.role = 'master';
  api.members = api.members.map((m: any) => (m.role === 'leader' ? m : { ...m, state: 'stopped' }));
  r = await switchover(['--if-leader'], port);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /no healthy replica to hand over to/);
  assert.not.ok(api.requests.includes('POST /switchover'));
  assert.is(await whichServer(), 'A');
});

failover('on-role-change.sh on the new primary resumes a pooler left paused (a switchover script killed between PAUSE and RESUME)', async () => {
  const admin = `host=127.0.0.1 port=${st.bouncer!.port} dbname=pgbouncer user=pgfleet_pooler_admin`;
  let r = await run(['psql', '-X', '-q', admin, '-c', 'PAUSE'], { env: { PGPASSWORD: 'bouncer-admin' }, timeoutMs: 10_000 });
  assert.is(r.status, 0, r.stderr);
  r = await onRoleChange(1);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /RECONNECT sent to 1 pooler pod\(s\), 0 failed \(repeat\)/);
  assert.is(await whichServer(), 'A', 'resumed (a paused PgBouncer would time the client out)');
});

failover.run();
