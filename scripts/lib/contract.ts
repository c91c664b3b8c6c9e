// What the chart promises the harness (both backends, the bench and the tests), in one place: the database
// container's environment names the application role, database and password, and the CA file when TLS is on;
// the chart's scripts live in one directory. Read from the rendered objects or the running pod, never from a
// script's text. tests/render/contract.test.ts checks every name here against a render.
import type { K8sObject } from './helm.ts';

/** The database pods' container that runs Patroni and PostgreSQL. */
export const DB_CONTAINER = 'postgres';
/** Where the scripts ConfigMap (files/scripts) is mounted in the database container. */
export const SCRIPTS_DIR = '/opt/pgfleet/scripts';
/** The planned-switchover script (files/scripts/switchover.py) in every database pod. */
export const SWITCHOVER_SCRIPT = `${SCRIPTS_DIR}/switchover`;
/** Patroni's configuration file in the database container (patronictl -c). */
export const PATRONI_CONFIG = '/etc/patroni/patroni.yml';

/** Where the database container mounts the CA of the release's TLS Secret (with tls.enabled). */
export const TLS_CA_FILE = '/etc/pgfleet/tls/ca.crt';

/** Environment variables of the database container the harness reads. */
export const ENV = {
  appUser: 'PGFLEET_APP_USER',
  appDb: 'PGFLEET_APP_DB',
  appPassword: 'PGFLEET_APP_PASSWORD',
  /** TLS_CA_FILE, set only with tls.enabled (releases before 0.11.2 do not set it) */
  tlsCa: 'PGFLEET_TLS_CA',
} as const;

export type AppCredentials = { user: string; database: string; password: string };

/** The application role, database and password from the database container's environment (rendered or live). */
export function appCredentials(env: Record<string, string | undefined>): AppCredentials {
  const missing = [ENV.appUser, ENV.appDb, ENV.appPassword].filter((k) => !env[k]);
  if (missing.length) throw new Error(`the database container's environment has no ${missing.join(', ')}`);
  return { user: env[ENV.appUser]!, database: env[ENV.appDb]!, password: env[ENV.appPassword]! };
}

/** The database container of a rendered StatefulSet (the first one: shard 0). */
export function dbContainer(objects: K8sObject[]): any {
  const sts = objects.find((o) => o.kind === 'StatefulSet');
  const c = (sts?.spec.template.spec.containers as any[] | undefined)?.find((x) => x.name === DB_CONTAINER);
  if (!c) throw new Error(`the rendered chart has no StatefulSet with a ${DB_CONTAINER} container`);
  return c;
}

/** The chart's own settings (PGFLEET_*) a rendered container gets as literal values, as its scripts read them. */
export const chartEnv = (container: any): Record<string, string> =>
  Object.fromEntries((container.env ?? []).filter((e: any) => e.name.startsWith('PGFLEET_') && typeof e.value === 'string').map((e: any) => [e.name, e.value]));
