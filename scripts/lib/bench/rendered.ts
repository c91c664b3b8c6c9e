// What the benchmark takes from the rendered chart (pure functions of helm's output; unit-tested): shard 0's
// read-write PgBouncer ConfigMap, the Secret files its pod mounts, the post-bootstrap script with the environment
// the database pod gives it, and the PostgreSQL settings of the shard's patroni.yml.
import { parse as parseYaml } from 'yaml';
import { find, one, type K8sObject } from '../helm.ts';
import { appCredentials, chartEnv, dbContainer } from '../contract.ts';

export type RenderedShard = {
  shard: string;
  /** pgbouncer.ini and make-userlist.sh of `<shard>-pgbouncer-rw`. */
  ini: string;
  makeUserlist: string;
  /** Files of the pooler pod's Secret volume (path -> content), as its projected volume maps them. */
  poolerSecrets: Record<string, string>;
  /** The read-write pool's Service: the name clients verify PgBouncer's certificate against. */
  poolService: string;
  postBootstrap: string;
  /** The database container's environment the chart sets: PGFLEET_* settings and the Secret-backed passwords. */
  env: Record<string, string>;
  /** ca.crt, tls.crt, tls.key of the release's TLS Secret (absent with tls.enabled=false). */
  tls?: { 'ca.crt': string; 'tls.crt': string; 'tls.key': string };
  postgres: PatroniPostgres;
  /** The application role and database. */
  appUser: string;
  appDb: string;
  /** Pooler-local roles (admin_users / stats_users). */
  adminUser: string;
  statsUser: string;
};

export type PatroniPostgres = {
  initdbArgs: string[];
  /** bootstrap.dcs.postgresql.parameters overlaid with postgresql.parameters, as Patroni applies them. */
  parameters: Record<string, string | number | boolean>;
  hba: string[];
  superuser: string;
};

const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

function secretData(objects: K8sObject[], name: string): Record<string, string> {
  const s = find(objects, 'Secret', name)[0];
  if (!s) throw new Error(`the rendered chart has no Secret ${name} (the bench needs the chart to generate it: leave existingSecret empty)`);
  return { ...Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, b64(v as string)])), ...(s.stringData ?? {}) };
}

/** The PostgreSQL side of a rendered patroni.yml. TLS file paths are rewritten under tlsDir. */
export function patroniPostgres(patroniYml: string, tlsDir?: string): PatroniPostgres {
  const y = parseYaml(patroniYml) as any;
  const initdbArgs = ((y.bootstrap?.initdb ?? []) as (string | Record<string, string>)[]).flatMap((e) =>
    typeof e === 'string' ? [`--${e}`] : Object.entries(e).map(([k, v]) => `--${k}=${v}`),
  );
  const parameters: Record<string, string | number | boolean> = { ...y.bootstrap?.dcs?.postgresql?.parameters, ...y.postgresql?.parameters };
  // The pod's socket directory is ours to choose, like the listen address.
  delete parameters.unix_socket_directories;
  for (const [k, v] of Object.entries(parameters)) {
    if (typeof v === 'string' && v.startsWith('/etc/pgfleet/tls/')) {
      if (!tlsDir) throw new Error(`patroni.yml sets ${k} = ${v} but no TLS files were given`);
      parameters[k] = `${tlsDir}/${v.slice('/etc/pgfleet/tls/'.length)}`;
    }
  }
  return { initdbArgs, parameters, hba: y.postgresql?.pg_hba ?? [], superuser: y.postgresql?.authentication?.superuser?.username ?? 'postgres' };
}

/** Everything the bench runs from one `helm template` of the chart (release `db`, shard 0). */
export function renderedShard(objects: K8sObject[], tlsDir?: string): RenderedShard {
  const sts = find(objects, 'StatefulSet')[0];
  if (!sts) throw new Error('the rendered chart has no StatefulSet');
  const shard = sts.metadata.name;
  const pool = one(objects, 'ConfigMap', `${shard}-pgbouncer-rw`).data;
  const deploy = one(objects, 'Deployment', `${shard}-pgbouncer-rw`);

  const poolerSecrets: Record<string, string> = {};
  const volume = (deploy.spec.template.spec.volumes as any[]).find((v) => v.name === 'secrets');
  for (const src of volume?.projected?.sources ?? []) {
    const data = secretData(objects, src.secret.name);
    for (const item of src.secret.items) poolerSecrets[item.path] = data[item.key]!;
  }

  const db = dbContainer(objects);
  const env = chartEnv(db);
  for (const e of db.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) env[e.name] = secretData(objects, ref.name)[ref.key]!;
  }
  const app = appCredentials(env);

  const scripts = find(objects, 'ConfigMap').find((c) => c.data?.['post-bootstrap.sh']);
  if (!scripts) throw new Error('the rendered chart has no ConfigMap with post-bootstrap.sh');
  const tlsSecret = find(objects, 'Secret').find((s) => s.data?.['tls.key'] && s.data?.['ca.crt']);
  const tls = tlsSecret
    ? { 'ca.crt': b64(tlsSecret.data['ca.crt']), 'tls.crt': b64(tlsSecret.data['tls.crt']), 'tls.key': b64(tlsSecret.data['tls.key']) }
    : undefined;
  const patroniYml = one(objects, 'ConfigMap', `${shard}-patroni`).data['patroni.yml'] as string;
  const postgres = patroniPostgres(patroniYml, tls ? tlsDir : undefined);

  return {
    shard,
    ini: pool['pgbouncer.ini'],
    makeUserlist: pool['make-userlist.sh'],
    poolerSecrets,
    poolService: one(objects, 'Service', `${shard}-pgbouncer-rw`).metadata.name,
    postBootstrap: scripts.data['post-bootstrap.sh'],
    env,
    tls,
    postgres,
    appUser: app.user,
    appDb: app.database,
    adminUser: firstRole(iniValue(pool['pgbouncer.ini'], 'admin_users')),
    statsUser: firstRole(iniValue(pool['pgbouncer.ini'], 'stats_users')),
  };
}

const firstRole = (list?: string) => (list ?? '').split(',')[0]!.trim();

/** `host=` and `port=` of the first [databases] entry (the shard's -primary Service). */
export function iniServer(ini: string): { host: string; port: number } {
  const m = /^\w+ = host=(\S+) port=(\d+)/m.exec(ini.slice(ini.indexOf('[databases]')));
  if (!m) throw new Error('pgbouncer.ini: no [databases] entry with host= and port=');
  return { host: m[1]!, port: Number(m[2]) };
}

/** A pgbouncer.ini key's value, or undefined. */
export const iniValue = (ini: string, key: string) => new RegExp(`^${key} = (.*)$`, 'm').exec(ini)?.[1];
