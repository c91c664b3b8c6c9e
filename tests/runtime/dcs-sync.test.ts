// files/scripts/sync-dcs-config.py, run as the post-upgrade hook runs it, with the environment the rendered Job
// gives it, against a stand-in for Patroni's /config endpoint on 127.0.0.1 (GET open, PATCH with Basic auth,
// applied as a JSON merge patch, which is what Patroni does). The chart's upgrade on kind (e2e lifecycle) runs it
// against real Patroni.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { render, type K8sObject } from '../../scripts/lib/helm.ts';
import { chartDir } from '../../scripts/lib/tools.ts';
import { patroniConfig } from '../lib/patroni.ts';
import type { SetValues } from '../../schema/values-paths.ts';
import { exec } from '../../scripts/lib/proc.ts';

type Json = Record<string, any>;
const script = join(chartDir, 'files', 'scripts', 'sync-dcs-config.py');
const st: { server?: Server; port: number; config: Json; patches: Json[]; auth: string[]; status: number } = {
  port: 0,
  config: {},
  patches: [],
  auth: [],
  status: 200,
};

const mergePatch = (base: Json, patch: Json): Json => {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v && typeof v === 'object' && !Array.isArray(v) ? mergePatch(out[k] ?? {}, v) : v;
  }
  return out;
};

/** The hook Job's environment for shard 0 of a render with `set`, pointed at the stand-in. */
const jobEnv = (set: SetValues, previous: Json = {}): Record<string, string> => {
  const job = render({ set, args: ['--is-upgrade'] }).objects.find((o: K8sObject) => o.metadata.name === 'db-pgfleet-shard-0-dcs-sync')!;
  const env: Record<string, string> = {};
  for (const e of job.spec.template.spec.containers[0].env) env[e.name] = e.value ?? 'the-api-password';
  return {
    ...env,
    PGFLEET_PATRONI_HOST: '127.0.0.1',
    PGFLEET_PATRONI_PORT: String(st.port),
    PGFLEET_DCS_PREVIOUS: JSON.stringify(previous),
    PGFLEET_TIMEOUT: '2',
  };
};
const sync = (env: Record<string, string>) => exec(['python3', script], { env, timeoutMs: 30_000 });
const bootstrapDcs = (set: SetValues = {}): Json => structuredClone(patroniConfig(render({ set }).objects, 'db-pgfleet-shard-0').bootstrap.dcs);

const test = suite('sync-dcs-config.py against a stand-in Patroni');
test.before(async () => {
  st.server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      if (req.url !== '/config') return void res.writeHead(404).end();
      if (req.method === 'PATCH') {
        st.auth.push(String(req.headers.authorization));
        if (st.status !== 200) return void res.writeHead(st.status).end('no');
        if (req.headers.authorization !== `Basic ${Buffer.from('patroni:the-api-password').toString('base64')}`) return void res.writeHead(401).end('no');
        const patch = JSON.parse(body);
        st.patches.push(patch);
        st.config = mergePatch(st.config, patch);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(st.config));
    });
  });
  await new Promise<void>((resolve) => st.server!.listen(0, '127.0.0.1', resolve));
  st.port = (st.server!.address() as AddressInfo).port;
});
test.after(async () => {
  await new Promise((resolve) => st.server?.close(resolve));
});
test.before.each(() => {
  st.patches = [];
  st.auth = [];
  st.status = 200;
});

test('changed values reach the DCS, each change printed; keys set by hand stay', async () => {
  st.config = { ...bootstrapDcs(), master_start_timeout: 600 };
  st.config.postgresql.parameters.max_wal_size = '4GB';
  const r = await sync(jobEnv({ 'postgresql.parameters.work_mem': '8MB', 'patroni.ttl': 40 }));
  assert.is(r.status, 0, r.stderr);
  assert.is(st.config.postgresql.parameters.work_mem, '8MB');
  assert.is(st.config.ttl, 40);
  assert.is(st.config.postgresql.parameters.max_wal_size, '4GB', 'a parameter the chart never set');
  assert.is(st.config.master_start_timeout, 600);
  assert.match(r.stdout, 'postgresql.parameters.work_mem: null -> "8MB"');
  assert.match(r.stdout, 'ttl: 20 -> 40');
});

test('a parameter the previous release set and this one drops is removed', async () => {
  const previous = bootstrapDcs({ 'postgresql.parameters.work_mem': '8MB' });
  st.config = structuredClone(previous);
  const r = await sync(jobEnv({}, previous));
  assert.is(r.status, 0, r.stderr);
  assert.is(st.patches[0].postgresql.parameters.work_mem, null);
  assert.not.ok('work_mem' in st.config.postgresql.parameters);
  assert.equal(st.config, bootstrapDcs());
});

test('nothing to change: no PATCH at all', async () => {
  st.config = bootstrapDcs();
  const r = await sync(jobEnv({}, bootstrapDcs()));
  assert.is(r.status, 0, r.stderr);
  assert.equal(st.patches, []);
  assert.equal(st.auth, []);
  assert.match(r.stdout, 'already matches');
});

test('refused credentials fail at once, saying which key to check', async () => {
  st.config = bootstrapDcs();
  st.status = 401;
  const r = await sync(jobEnv({ 'patroni.ttl': 30 }));
  assert.is(r.status, 1);
  assert.match(r.stderr, 'patroni-api-password');
  assert.is(st.auth.length, 1);
});

test('no member answering fails after the timeout, naming the host', async () => {
  const env = { ...jobEnv({}), PGFLEET_PATRONI_PORT: '9' };
  const r = await sync(env);
  assert.is(r.status, 1);
  assert.match(r.stderr, '127.0.0.1: no member applied the configuration');
});

test.run();
