// Tier 2 as a user meets it: `npm start` through npm and tsx, exactly as typed. The connection strings it prints
// work verbatim with psql and node-postgres, data and credentials survive a restart, the helpers reach the
// cluster, and every way of stopping it (Ctrl-C to the process group, SIGINT or SIGTERM to npm, tsx or the
// script itself, a second Ctrl-C) leaves no process, namespace, bridge or /etc/hosts entry behind.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import pg from 'pg';
import { root } from '../../scripts/lib/tools.ts';
import { alive, loadState, stateDir } from '../../scripts/lib/local/state.ts';
import { namespacePids } from '../../scripts/lib/local/net.ts';
import { waitFor } from '../../scripts/lib/proc.ts';

const NAME = 'tdstart';
/** The smallest cluster for the signal rounds: one pod, no pooler, no exporter. */
const SMALL = ['--set', 'replicas=0', '--set', 'pooler.type=none', '--set', 'monitoring.enabled=false'];
const log = (l: string) => console.log(`  [${new Date().toISOString().slice(11, 19)}] ${l}`);

type Started = { npm: ChildProcess; out: () => string; exited: Promise<number | null> };

/** `npm start -- --name NAME ...` in its own process group (as a terminal runs it); resolves once it prints its endpoints. */
async function npmStart(args: string[]): Promise<Started> {
  const npm = spawn('npm', ['start', '--', '--name', NAME, ...args], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let out = '';
  npm.stdout!.on('data', (d) => {
    out += d;
  });
  npm.stderr!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => npm.on('exit', (code) => r(code)));
  let done = false;
  void exited.then(() => {
    done = true;
  });
  await waitFor(
    'npm start to print its endpoints',
    240_000,
    async () => {
      if (done) throw new Error(`npm start exited early:\n${out}`);
      return out.includes('From another terminal:');
    },
    250,
  );
  return { npm, out: () => out, exited };
}

/** Direct children of `pid`, from /proc. */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const comm = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
};

/**
 * The processes a user can signal: npm, and the node process running scripts/start.ts with tsx's loader (npm execs
 * it: no shell, and no tsx CLI wrapper, whose signal relay SIGKILLs a child that is busy tearing down).
 */
function tree(npm: number): { npm: number; script: number } {
  const all = children(npm);
  const script = all.find((p) => /node --import tsx scripts\/start\.ts/.test(comm(p)));
  if (!script || all.length !== 1)
    throw new Error(`npm start should run exactly one process, node with tsx's loader: ${all.map((p) => `${p} ${comm(p)}`).join(' | ')}`);
  return { npm, script };
}

/** Nothing of the cluster is left: processes, namespaces, bridge, /etc/hosts block. */
async function nothingLeft(what: string, pids: number[]): Promise<void> {
  await waitFor(
    `${what}: every process and namespace of ${NAME} to be gone`,
    60_000,
    async () => {
      const s = loadState(NAME);
      const left = [
        ...pids.filter(alive).map((p) => `process ${p} ${comm(p)}`),
        ...readdirSync('/var/run/netns')
          .filter((n) => n.startsWith(`${NAME}-`))
          .map((n) => `namespace ${n}`),
        ...(s?.pids ?? []).filter((p) => alive(p.pid)).map((p) => `${p.what} (${p.pid})`),
        ...(s?.bridge ? [`bridge ${s.bridge}`] : []),
        ...(s?.hostsBlock ? ['/etc/hosts block'] : []),
      ];
      if (left.length) throw new Error(`left: ${left.join(', ')}`);
      return true;
    },
    250,
  );
  assert.is(spawnSync('ip', ['link', 'show', `${NAME}br0`]).status !== 0, true, `${what}: bridge left`);
  assert.not.match(readFileSync('/etc/hosts', 'utf8'), new RegExp(`pgfleet-local ${NAME} `), `${what}: /etc/hosts block left`);
}

const start = suite('npm start: connection strings, persistence, helpers, teardown on every signal');
let running: Started | undefined;

start.after(async () => {
  // Whatever a failed assertion left: stop it the way a user would, then purge.
  if (running && running.npm.exitCode === null) {
    try {
      process.kill(-running.npm.pid!, 'SIGINT');
    } catch {
      /* gone */
    }
    await running.exited;
  }
  spawnSync('npm', ['run', '-s', 'local', '--', 'down', NAME, '--purge'], { cwd: root, stdio: 'inherit' });
});

start(
  'printed connection strings work verbatim with psql and node-postgres; the helpers reach the cluster; rows and credentials survive a restart',
  async () => {
    spawnSync('npm', ['run', '-s', 'local', '--', 'down', NAME, '--purge'], { cwd: root });
    running = await npmStart(['--set', 'replicas=1']);
    const urls = [...running.out().matchAll(/^\s+(rw|ro|primary|replicas)\s+(postgresql:\/\/\S+)$/gm)].map((m) => ({ kind: m[1]!, url: m[2]! }));
    assert.equal(urls.map((u) => u.kind).sort(), ['primary', 'replicas', 'ro', 'rw']);
    for (const u of urls.filter((x) => ['primary', 'replicas'].includes(x.kind)))
      assert.match(u.url, /sslmode=verify-full&sslrootcert=/, `${u.kind} verifies the server`);
    const rw = urls.find((u) => u.kind === 'rw')!.url;
    const primary = urls.find((u) => u.kind === 'primary')!.url;
    for (const { kind, url } of urls) {
      const r = spawnSync('psql', [url, '-XAtc', 'SELECT 1'], { encoding: 'utf8' });
      assert.is(r.stdout.trim(), '1', `psql ${kind}: ${r.stderr}`);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      assert.is((await c.query('SELECT 1 AS x')).rows[0].x, 1, `node-postgres ${kind}`);
      await c.end();
    }
    const c = new pg.Client({ connectionString: rw });
    await c.connect();
    await c.query('CREATE TABLE kept (v text)');
    await c.query("INSERT INTO kept VALUES ('survives a restart')");
    await c.end();
    const helper = spawnSync('npm', ['run', '-s', 'local', '--', 'psql', '0', 'primary', '-XAtc', 'SELECT v FROM kept', '--name', NAME], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.is(helper.stdout.trim(), 'survives a restart', helper.stderr);
    const list = spawnSync('npm', ['run', '-s', 'local', '--', 'patronictl', 'list', '--name', NAME], { cwd: root, encoding: 'utf8' });
    assert.match(list.stdout, /Leader/, list.stderr);
    assert.match(spawnSync('npm', ['run', '-s', 'local', '--', 'status'], { cwd: root, encoding: 'utf8' }).stdout, new RegExp(`${NAME}: running`));

    const first = tree(running.npm.pid!);
    process.kill(-running.npm.pid!, 'SIGINT');
    await running.exited;
    await nothingLeft('Ctrl-C', Object.values(first));
    assert.ok(existsSync(stateDir(NAME)), 'the data directory is kept');

    running = await npmStart(['--set', 'replicas=1']);
    assert.ok(running.out().includes(primary), 'the same connection string (address and password) after a restart');
    const again = new pg.Client({ connectionString: primary });
    await again.connect();
    assert.equal((await again.query('SELECT v FROM kept')).rows, [{ v: 'survives a restart' }]);
    await again.end();
    process.kill(running.npm.pid!, 'SIGTERM');
    await running.exited;
    await nothingLeft('SIGTERM to npm', []);
    const purge = spawnSync('npm', ['run', '-s', 'local', '--', 'down', NAME, '--purge'], { cwd: root, encoding: 'utf8' });
    assert.is(purge.status, 0, purge.stderr);
    assert.not.ok(existsSync(stateDir(NAME)), 'down --purge removes data and credentials');
  },
);

// Each signal kind 5 times; the PID targets alternate between npm and the script (node running tsx's loader).
// Last, SIGKILL to the script: nothing can be handled, the cluster's reaper tears it down.
const rounds: { kind: string; send: (t: ReturnType<typeof tree>, pgid: number) => Promise<void> }[] = [];
const targets = ['npm', 'script'] as const;
for (let i = 0; i < 5; i++) {
  rounds.push({
    kind: i === 4 ? 'Ctrl-C twice' : 'Ctrl-C',
    send: async (_t, pgid) => {
      process.kill(-pgid, 'SIGINT');
      if (i === 4) {
        await new Promise((r) => setTimeout(r, 300));
        try {
          process.kill(-pgid, 'SIGINT');
        } catch {
          /* already gone */
        }
      }
    },
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const target = targets[(i + (sig === 'SIGTERM' ? 1 : 0)) % 2]!;
    rounds.push({
      kind: `${sig} to ${target}`,
      send: async (t) => {
        process.kill(t[target], sig);
      },
    });
  }
}
rounds.push({
  kind: 'SIGKILL to the script',
  send: async (t) => {
    process.kill(t.script, 'SIGKILL');
  },
});

start(`teardown completes after each of ${rounds.length} signals (Ctrl-C, SIGINT and SIGTERM to npm or the script, SIGKILL)`, async () => {
  for (const [i, r] of rounds.entries()) {
    running = await npmStart(SMALL);
    const t = tree(running.npm.pid!);
    const pods = loadState(NAME)!.namespaces.flatMap((ns) => namespacePids(ns));
    assert.ok(pods.length > 0, 'the cluster runs processes');
    log(`round ${i + 1}/${rounds.length}: ${r.kind}`);
    await r.send(t, running.npm.pid!);
    // npm itself may outlive a signal sent only to its child; the cluster must go regardless.
    await nothingLeft(r.kind, [t.script, ...pods]);
    if (running.npm.exitCode === null) {
      try {
        process.kill(-running.npm.pid!, 'SIGINT');
      } catch {
        /* gone */
      }
    }
    await running.exited;
  }
});

start.run();
