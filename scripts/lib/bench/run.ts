// The benchmark itself: per variant (TLS to the server as rendered, and tls.enabled=false), one PostgreSQL 15 set up
// from the rendered patroni.yml and post-bootstrap.sh, one PgBouncer 1.18 running the rendered pgbouncer.ini, and
// pgbench against each, interleaved. Every process is ours, started here and stopped by PID by the caller's cleanup.
import { mkdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { render } from '../helm.ts';
import { chartDir, root } from '../tools.ts';
import {
  PGBIN,
  pgbouncerBin,
  postBootstrap,
  serverDir,
  serverFile,
  startPgBouncer,
  startPostgres,
  type LocalPgBouncer,
  type LocalPostgres,
} from '../localpg.ts';
import { machineCpu, parseBashTimes, processCpu, treeCpu } from './cpu.ts';
import { WORKLOADS, parsePgbench, pgbenchArgs, type Target, type Workload } from './pgbench.ts';
import { iniServer, iniValue, renderedShard } from './rendered.ts';
import { VARIANTS } from './variants.ts';
import { median, order, summarize, type Cpu, type Run, type Summary, type Variant } from './stats.ts';
import { asRoot, exec, sleep } from '../proc.ts';

export type BenchConfig = {
  variants: Variant[];
  workloads: Workload[];
  reps: number;
  durationS: number;
  warmupS: number;
  clients: number;
  threads: number;
  scale: number;
  /** Extra chart values (helm --set) on top of `shards=1` and the variant's `tls.enabled`. */
  set: Record<string, string>;
  /** Seconds of idle between two runs (backends and TIME_WAIT sockets of -C settle). */
  pauseS: number;
};

export const DEFAULTS: BenchConfig = {
  variants: ['tls', 'tls-plain-clients', 'plain', 'tls-addhost'],
  workloads: ['connect', 'persistent'],
  reps: 3,
  durationS: 15,
  warmupS: 5,
  clients: 32,
  threads: 2,
  scale: 10,
  set: {},
  pauseS: 2,
};

export type Environment = {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  os: string;
  postgres: string;
  pgbench: string;
  pgbouncer: string;
  openssl: string;
  node: string;
  chartVersion: string;
  commit: string;
};

export type Report = {
  generatedAt: string;
  config: BenchConfig;
  environment: Environment;
  /**
   * 1-minute load average before the first and after the last run, and the highest seen at any run's edge (these
   * include the bench's own processes); otherShare: the fraction of the machine's CPU (all cores) that other work used
   * during the runs (median, min, max over the runs).
   */
  load: { before: number; after: number; max: number; otherShare?: { median: number; min: number; max: number } };
  /** What the local run rewrote in the rendered configuration, per variant. */
  rewrites: Record<string, string[]>;
  /** Effective pooler settings PgBouncer reported (SHOW CONFIG), per variant. */
  poolerSettings: Record<string, Record<string, string>>;
  runs: Run[];
  summaries: Summary[];
};

export type Cleanup = { defer: (name: string, fn: () => Promise<void> | void) => void };

const firstLine = (s: string) => s.split('\n')[0]!.trim();

async function versionOf(argv: string[]): Promise<string> {
  try {
    const r = await exec(argv, { timeoutMs: 10_000 });
    return firstLine(r.stdout || r.stderr);
  } catch {
    return 'unknown';
  }
}

export async function environment(): Promise<Environment> {
  const os = (() => {
    try {
      return /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  })();
  const git = await exec(['git', '-C', root, 'rev-parse', '--short', 'HEAD'], { timeoutMs: 10_000 });
  const dirty = await exec(['git', '-C', root, 'status', '--porcelain', '--untracked-files=no'], { timeoutMs: 10_000 });
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / (1 << 30)),
    kernel: release(),
    os,
    postgres: await versionOf([join(PGBIN, 'postgres'), '--version']),
    pgbench: await versionOf([join(PGBIN, 'pgbench'), '--version']),
    pgbouncer: pgbouncerBin ? await versionOf([pgbouncerBin, '--version']) : 'missing',
    openssl: await versionOf(['openssl', 'version']),
    node: process.version,
    chartVersion: /^version:\s*(\S+)/m.exec(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8'))?.[1] ?? 'unknown',
    commit: `${git.stdout.trim()}${dirty.stdout.trim() ? ' (with uncommitted changes)' : ''}`,
  };
}

type Stack = {
  variant: Variant;
  direct: string;
  pooled: string;
  env: Record<string, string>;
  rewrites: string[];
  settings: Record<string, string>;
  pids: { pooler: number; server: number };
};

/** Starts PostgreSQL + PgBouncer for one variant from the rendered chart; registers their stops with cleanup. */
async function startStack(variant: Variant, config: BenchConfig, dir: string, cleanup: Cleanup, log: (s: string) => void): Promise<Stack> {
  if (!asRoot)
    throw new Error('the bench needs root: PostgreSQL and PgBouncer run as the postgres user, PgBouncer with a private /etc/hosts (unshare --mount)');
  const tlsDir = join(dir, 'pg', 'tls');
  const v = VARIANTS[variant];
  if (!v) throw new Error(`unknown variant ${variant}: one of ${Object.keys(VARIANTS).join(', ')}`);
  const objects = render({ set: { shards: 1, ...v.set, ...config.set } }).objects;
  const shard = renderedShard(objects, tlsDir);
  if (v.set['tls.enabled'] === true && !shard.tls) throw new Error(`variant ${variant}: the rendered chart has no TLS Secret`);
  const clientTls = (iniValue(shard.ini, 'client_tls_sslmode') ?? 'disable') !== 'disable';
  if (clientTls && !shard.tls) throw new Error(`variant ${variant}: PgBouncer serves client TLS but the bench only knows the release's TLS Secret`);
  const server = iniServer(shard.ini);

  // PostgreSQL as the pod runs it: initdb options, parameters and pg_hba of patroni.yml, the rendered TLS key pair.
  serverDir(join(dir, 'pg'));
  if (shard.tls) {
    serverDir(tlsDir);
    for (const [f, content] of Object.entries(shard.tls)) serverFile(join(tlsDir, f), content, f === 'tls.key' ? 0o600 : 0o644);
  }
  log(`[${variant}] initdb + PostgreSQL 15 (${shard.postgres.initdbArgs.join(' ')})`);
  const pg: LocalPostgres = await startPostgres({
    dir: join(dir, 'pg'),
    name: `postgres-${variant}`,
    initdbArgs: shard.postgres.initdbArgs,
    superuserPassword: shard.env.PATRONI_SUPERUSER_PASSWORD,
    hba: shard.postgres.hba,
    parameters: shard.postgres.parameters,
  });
  cleanup.defer(`postgres-${variant} (pid ${pg.daemon.pid})`, () => pg.stop());
  postBootstrap(pg, shard.postBootstrap, shard.env);

  const env = { PGPASSWORD: shard.env.PGFLEET_APP_PASSWORD ?? '', PGCONNECT_TIMEOUT: '10' };
  if (!env.PGPASSWORD) throw new Error('the database pod has no PGFLEET_APP_PASSWORD');
  const ca = join(tlsDir, 'ca.crt');
  // Direct clients pay what pg_hba demands of them: hostssl with the rendered certificate (verified against the
  // Service name the certificate carries, at 127.0.0.1), or plain TCP with tls.enabled=false.
  const direct = shard.tls
    ? `host=${server.host} hostaddr=127.0.0.1 port=${pg.port} dbname=${shard.appDb} user=${shard.appUser} sslmode=verify-full sslrootcert=${ca}`
    : `host=127.0.0.1 port=${pg.port} dbname=${shard.appDb} user=${shard.appUser} sslmode=disable`;

  log(`[${variant}] pgbench -i -s ${config.scale}`);
  const init = await exec([join(PGBIN, 'pgbench'), '-i', '-q', '-s', String(config.scale), direct], { env, timeoutMs: 600_000 });
  if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}\n${pg.daemon.log.slice(-4000)}`);

  // PgBouncer with the rendered ini: the Service name resolves to 127.0.0.1 for this process only, so
  // server_tls_sslmode=verify-full checks the same name a pod checks.
  const rewrites = [
    'listen_addr = 127.0.0.1 (pod: *) and a free listen_port (pod: 6432)',
    'auth_file, server_tls_ca_file and client_tls_{cert,key}_file: paths in a temporary directory (pod: Secret and emptyDir mounts)',
    `[databases] port=${pg.port} (pod: ${server.port}); host=${server.host} kept, resolved to 127.0.0.1 through a private /etc/hosts (mount namespace) of the PgBouncer process`,
    "PostgreSQL: listen_addresses=127.0.0.1, a free port, unix_socket_directories in the temporary directory; ssl_*_file paths point at the rendered TLS Secret's files",
  ];
  log(`[${variant}] PgBouncer 1.18 with the rendered pgbouncer.ini`);
  const bouncer: LocalPgBouncer = await startPgBouncer({
    dir: join(dir, 'pgbouncer'),
    ini: shard.ini,
    makeUserlist: shard.makeUserlist,
    secrets: shard.poolerSecrets,
    caCert: shard.tls?.['ca.crt'],
    server: { port: pg.port },
    hosts: { [server.host]: '127.0.0.1' },
    clientTls: clientTls ? { cert: shard.tls!['tls.crt'], key: shard.tls!['tls.key'] } : undefined,
    ready: { user: shard.statsUser, password: shard.poolerSecrets['stats-password'] ?? '' },
  });
  cleanup.defer(`pgbouncer-${variant} (pid ${bouncer.daemon.pid})`, () => bouncer.stop());
  const show = await bouncer.console(shard.adminUser, shard.poolerSecrets['admin-password'] ?? '', 'SHOW CONFIG');
  if (show.status !== 0) throw new Error(`SHOW CONFIG failed: ${show.stderr}`);
  const all = Object.fromEntries(
    show.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('|').slice(0, 2) as [string, string]),
  );
  const keys = [
    'pool_mode',
    'default_pool_size',
    'reserve_pool_size',
    'max_client_conn',
    'max_db_connections',
    'server_tls_sslmode',
    'client_tls_sslmode',
    'auth_type',
    'server_lifetime',
    'server_idle_timeout',
    'log_connections',
    'log_disconnections',
    'application_name_add_host',
    'tcp_keepalive',
  ];
  const settings = Object.fromEntries(keys.filter((k) => k in all).map((k) => [k, all[k]!]));
  // Pooled clients likewise: with client TLS they verify PgBouncer's certificate against the pool's Service name.
  const pooled = clientTls
    ? `host=${shard.poolService} hostaddr=127.0.0.1 port=${bouncer.port} dbname=${shard.appDb} user=${shard.appUser} sslmode=verify-full sslrootcert=${ca}`
    : `host=127.0.0.1 port=${bouncer.port} dbname=${shard.appDb} user=${shard.appUser} sslmode=disable`;
  return { variant, direct, pooled, env, rewrites, settings, pids: { pooler: bouncer.daemon.pid!, server: pg.daemon.pid! } };
}

async function pgbench(stack: Stack, workload: Workload, target: Target, durationS: number, config: BenchConfig, signal: AbortSignal) {
  const args = pgbenchArgs(workload, { clients: config.clients, threads: config.threads, durationS }, target === 'direct' ? stack.direct : stack.pooled);
  // bash's `times` reports pgbench's CPU (user, system) after it exits; the group is killed on abort.
  const argv = ['bash', '-c', '"$@"; rc=$?; times >&2; exit $rc', 'bash', join(PGBIN, 'pgbench'), ...args];
  const before = { pooler: processCpu(stack.pids.pooler), server: treeCpu(stack.pids.server), machine: machineCpu() };
  const r = await exec(argv, { env: stack.env, timeoutMs: (durationS + 120) * 1000, signal, group: true });
  if (signal.aborted) throw new Error('interrupted');
  if (r.status !== 0) throw new Error(`pgbench (${stack.variant}, ${workload}, ${target}) exited ${r.status ?? r.signal}: ${r.stderr.slice(-2000)}`);
  const client = parseBashTimes(r.stderr);
  const cpu: Cpu = {
    client: round(client.user + client.system, 2),
    pooler: round(processCpu(stack.pids.pooler) - before.pooler, 2),
    server: round(treeCpu(stack.pids.server) - before.server, 2),
  };
  const otherCpu = round(Math.max(0, machineCpu() - before.machine - cpu.client - cpu.pooler - cpu.server), 2);
  return { ...parsePgbench(r.stdout), cpu, otherCpu };
}

/** Runs the whole benchmark. Processes are registered with cleanup; the caller stops them in its finally. */
export async function runBench(config: BenchConfig, dir: string, cleanup: Cleanup, signal: AbortSignal, log: (s: string) => void): Promise<Report> {
  mkdirSync(dir, { recursive: true });
  const env = await environment();
  const runs: Run[] = [];
  const rewrites: Record<string, string[]> = {};
  const poolerSettings: Record<string, Record<string, string>> = {};
  const before = loadavg()[0]!;
  let maxLoad = before;
  for (const variant of config.variants) {
    const stack = await startStack(variant, config, join(dir, variant), cleanup, log);
    rewrites[variant] = stack.rewrites;
    poolerSettings[variant] = stack.settings;
    // Warm-up (not counted): fills the pool, the buffer cache and PgBouncer's auth cache.
    for (const target of ['direct', 'pooled'] as const) {
      log(`[${variant}] warm-up ${target} ${config.warmupS} s`);
      await pgbench(stack, 'persistent', target, config.warmupS, config, signal);
    }
    for (let rep = 1; rep <= config.reps; rep++) {
      for (const workload of config.workloads) {
        for (const target of order(rep)) {
          await sleep(config.pauseS * 1000);
          if (signal.aborted) throw new Error('interrupted');
          const load0 = loadavg()[0]!;
          const startedAt = new Date().toISOString();
          const r = await pgbench(stack, workload, target, config.durationS, config, signal);
          const load1 = loadavg()[0]!;
          maxLoad = Math.max(maxLoad, load0, load1);
          runs.push({
            variant,
            workload,
            target,
            rep,
            startedAt,
            load: [round(load0, 2), round(load1, 2)],
            tps: round(r.tps, 1),
            transactions: r.transactions,
            failed: r.failed,
            latencyMs: r.latencyMs,
            ...(r.connectionMs !== undefined ? { connectionMs: r.connectionMs } : {}),
            cpu: r.cpu,
            otherCpu: r.otherCpu,
          });
          log(
            `[${variant}] rep ${rep}/${config.reps} ${workload.padEnd(10)} ${target.padEnd(6)} ${r.tps.toFixed(1).padStart(9)} tps  (load ${load0.toFixed(2)} -> ${load1.toFixed(2)})`,
          );
        }
      }
    }
  }
  const after = loadavg()[0]!;
  const shares = runs.filter((r) => r.otherCpu !== undefined).map((r) => round(r.otherCpu! / (config.durationS * env.cpus), 3));
  const otherShare = shares.length ? { median: median(shares), min: Math.min(...shares), max: Math.max(...shares) } : undefined;
  return {
    generatedAt: new Date().toISOString(),
    config,
    environment: env,
    load: { before: round(before, 2), after: round(after, 2), max: round(Math.max(maxLoad, after), 2), ...(otherShare ? { otherShare } : {}) },
    rewrites,
    poolerSettings,
    runs,
    summaries: summarize(runs),
  };
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

export { VARIANTS, WORKLOADS };
