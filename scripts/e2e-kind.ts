// `npm run e2e:kind`: tier 3. A kind cluster of 3 schedulable nodes, built on this machine (npm run setup:kind),
// the chart packaged, pushed to a local OCI registry (Debian's docker-registry on loopback) and installed from
// oci:// with its defaults; every pod Ready, `helm test`, NetworkPolicy enforcement; then the ci/ values files
// that can run here. Each check counts; the last line is `N passed, N failed`. Everything started is stopped by
// PID and the cluster deleted, also when a step fails.
// Then the drills through the kube backend on a release with the chart's defaults plus replicas: 2 and
// synchronous mode (faults made on the nodes themselves: containers killed or frozen by PID, a node paused).
// Then backups: s3rver on the kind network, ci/22-backups-s3rver installed against it, the restore drill, a
// renewal of the backup server certificate, WAL dropped in an S3 outage.
// Then the lifecycle (scripts/lib/kind/lifecycle.ts): upgrade from the previous minor release, scaling, reinstall.
// Usage: npm run e2e:kind [-- --keep] [-- --quick: the defaults install only, no drills]
//        [-- --drills: the drills only, backups and restore included] [-- --lifecycle: the lifecycle only]
//        [-- --backups: the backups and restore step only] [-- --drill-runs N] [-- --drill-set a,b,c]
//        [-- --drills-json FILE] [-- --wal-drop-sync: measure dropped WAL with synchronous archiving too]
//        [-- --ci PREFIX: only the ci/ values files named PREFIX...]
//        [-- --down: remove what --keep left]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseArgs } from './lib/args.ts';
import { dockerWith, goBinaries, step } from './lib/kind/build.ts';
import { OWN_DOCKER, startEngine, stopOwnEngine } from './lib/kind/docker.ts';
import { buildImages, type KindImages } from './lib/kind/images.ts';
import { S3RVER, s3rverScript } from './lib/s3rver.ts';
import { KubeCluster } from './lib/kube/backend.ts';
import { kindNodes } from './lib/kind/docker.ts';
import { lifecycle } from './lib/kind/lifecycle.ts';
import { etcdFixture } from './lib/kind/etcd.ts';
import { failedDrill, runDrill, table, type DrillResult } from './lib/drills/index.ts';
import { KIND, PATRONI } from './lib/versions.ts';
import { chartDir, toolPath } from './lib/tools.ts';
import { freePort, waitFor } from './lib/proc.ts';

const args = parseArgs(process.argv.slice(2), ['keep', 'quick', 'down', 'drills', 'lifecycle', 'backups', 'wal-drop-sync']);
if (process.getuid?.() !== 0) {
  console.error("e2e:kind needs root (it may start the project's own dockerd)");
  process.exit(1);
}

const CLUSTER = 'pgfleet-e2e';
const work = mkdtempSync(join(tmpdir(), 'pgfleet-e2e-'));
const kubeconfig = join(work, 'kubeconfig');
const results: { name: string; ok: boolean; detail?: string }[] = [];
const cleanups: (() => void | Promise<void>)[] = [];

/** A named check: counted in the summary; a failure is printed with its cause and does not stop later ones. */
/** helm install/upgrade arguments for release `db` in `ns`, the chart from the local OCI registry. */
const fromRegistry = (ns: string, ociRef: string, version: string) => ['db', ociRef, '--version', version, '--plain-http', '--namespace', ns];

async function check(name: string, fn: () => Promise<void> | void): Promise<boolean> {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`✔ ${name} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    return true;
  } catch (err) {
    results.push({ name, ok: false, detail: (err as Error).message });
    console.log(`✘ ${name}: ${(err as Error).message}`);
    return false;
  }
}

let env: Record<string, string> = {};
const sh = (cmd: string, argv: string[], o: { input?: string; quiet?: boolean; timeoutMs?: number } = {}) => {
  if (!o.quiet) console.log(`$ ${cmd.split('/').pop()} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, {
    env: { ...process.env, ...env },
    input: o.input,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: o.timeoutMs ?? 20 * 60_000,
  });
  if (r.status !== 0)
    throw new Error(
      `${cmd.split('/').pop()} ${argv.slice(0, 3).join(' ')} failed (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout || '').trim().split('\n').slice(-8).join('\n')}`,
    );
  return r.stdout;
};
const kubectl = (argv: string[], o: { input?: string; quiet?: boolean } = {}) => sh(toolPath('kubectl'), ['--kubeconfig', kubeconfig, ...argv], o);
const helm = (argv: string[], o: { quiet?: boolean } = {}) => sh(toolPath('helm'), [...argv, '--kubeconfig', kubeconfig], o);

/** The kind configuration: 3 schedulable nodes (the control plane keeps no taint), and cgroup v1 allowed. */
function kindConfig(): string {
  return `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  ipFamily: ipv4
nodes:
  - role: control-plane
    kubeadmConfigPatches:
      - |
        kind: InitConfiguration
        nodeRegistration:
          taints: []
  - role: worker
  - role: worker
kubeadmConfigPatches:
  # This machine (and many CI hosts) mounts cgroup v1. Kubernetes 1.35 and later refuse to start a kubelet on
  # cgroup v1 unless failCgroupV1 is false; 1.34 only warns. Pinned here so a version bump fails loudly elsewhere.
  - |
    kind: KubeletConfiguration
    failCgroupV1: false
`;
}

/** Debian's docker-registry on loopback, storing in the run's temporary directory; stopped by PID. */
async function startRegistry(): Promise<string> {
  const port = await freePort();
  const config = join(work, 'registry.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'registry')}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn('/usr/bin/docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  cleanups.push(() => {
    child.kill('SIGTERM');
  });
  await waitFor(`the registry on 127.0.0.1:${port}`, 20_000, async () => (await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined))?.ok);
  return `127.0.0.1:${port}`;
}

/**
 * The ci/ values files that cannot be installed on this machine, and why (printed, never counted as passes).
 * 00-defaults is the defaults install above.
 */
const NOT_HERE: Record<string, string> = {
  '00-defaults-values.yaml': 'the same as the defaults install above',
  '03-cert-manager-values.yaml': 'needs cert-manager, which is not built here',
  '04-existing-secrets-values.yaml': 'needs its credentials and certificate Secrets made outside the chart; no kind fixture makes them yet',
  '05-hardened-values.yaml': 'names a PriorityClass, node labels, taints and a StorageClass of a real production cluster',
  '11-pgdog-values.yaml': 'PgDog is not packaged by Debian nor published to a registry reachable here',
  '20-backups-values.yaml': 'names a production S3 endpoint and its Secrets; the backups step installs 22-backups-s3rver instead',
  '21-restore-values.yaml': 'restores from a production S3 endpoint; the backups step restores from s3rver instead',
  '22-backups-s3rver-values.yaml': 'installed by the backups step above, with s3rver on the kind network',
  '30-monitoring-values.yaml': 'needs the prometheus-operator CRDs',
};

/** What a ci/ values file needs in its namespace before the install, and what is checked after `helm test`. */
const CI_SETUP: Record<string, { before?: (ns: string) => Promise<boolean>; after?: (ns: string) => Promise<void> }> = {
  '02-etcd3-values.yaml': {
    before: (ns) =>
      check(`${ns}: a 3-member etcd (kind's own etcd image) at the hosts the values file names`, () => {
        kubectl(['create', 'namespace', ns], { quiet: true });
        kubectl(['apply', '-f', '-'], { input: JSON.stringify(etcdFixture(ns)), quiet: true });
        kubectl(['-n', ns, 'rollout', 'status', 'statefulset/etcd', '--timeout=180s'], { quiet: true });
      }),
    after: roleLabelCheck,
  },
};

/**
 * With etcd3 Patroni writes nothing to Kubernetes: the role label the Services select on is written by the chart's
 * callback through the API server. After a switchover, `-primary` must hold only the new primary and `-replicas`
 * the old one, and `helm test` must pass again through `-primary` and the poolers.
 */
async function roleLabelCheck(ns: string): Promise<void> {
  await check(`${ns}: after a switchover -primary and -replicas follow the role label the etcd3 callback writes; helm test again`, async () => {
    const c = new KubeCluster({ context: `kind-${CLUSTER}`, namespace: ns, release: 'db', kubeconfig });
    try {
      const shard = (await c.shards())[0]!;
      // pod addresses stay through a switchover
      const ip = new Map((await c.members(shard)).map((m) => [m.name, m.host]));
      const old = (await c.primary(shard))!;
      const t0 = Date.now();
      const next = await c.switchover(shard);
      await waitFor(`${shard}-primary to hold only ${next}`, 60_000, async () => {
        const eps = await c.primaryEndpoints(shard);
        return eps.length === 1 && eps[0] === ip.get(next);
      });
      console.log(`  ${shard}-primary: ${old.name} -> ${next} ${((Date.now() - t0) / 1000).toFixed(1)} s after the switchover began`);
      await waitFor(
        `${shard}-replicas to hold ${old.name}`,
        120_000,
        async () => (await c.readyEndpoints(`${shard}-replicas`)).some((e) => e.address === ip.get(old.name)),
        1000,
      );
      helmTest(ns);
    } finally {
      await c.close();
    }
  });
}

/** Uninstalls a release and deletes its namespace (PVCs included), so the next install has the machine to itself. */
async function uninstall(ns: string) {
  await check(`${ns}: helm uninstall (its post-delete hook removes Patroni's DCS ConfigMaps)`, () => {
    try {
      helm(['uninstall', 'db', '--namespace', ns, '--wait', '--timeout', '5m'], { quiet: true });
    } catch (err) {
      spawnSync(
        toolPath('kubectl'),
        ['--kubeconfig', kubeconfig, '-n', ns, 'logs', '--all-containers', '--prefix', '-l', 'app.kubernetes.io/component=cleanup', '--tail', '20'],
        { stdio: 'inherit' },
      );
      throw err;
    }
    const left = kubectl(['-n', ns, 'get', 'configmaps', '-l', 'cluster-name', '-o', 'name'], { quiet: true }).trim();
    if (left) throw new Error(`DCS ConfigMaps left behind: ${left.replace(/\n/g, ', ')}`);
  });
  kubectl(['delete', 'namespace', ns, '--wait=true', '--timeout=300s'], { quiet: true });
}

/** `--set` pairs pointing every image of the chart at the ones built here. */
function imageValues(images: KindImages): string[] {
  const split = (ref: string) => {
    const i = ref.lastIndexOf(':');
    const [registry, ...repo] = ref.slice(0, i).split('/');
    return { registry, repository: repo.join('/'), tag: ref.slice(i + 1) };
  };
  const set = (prefix: string, ref: string) => Object.entries(split(ref)).flatMap(([k, v]) => ['--set', `${prefix}.${k}=${v}`]);
  return [
    ...set('image', images.chart.db),
    ...set('pooler.pgbouncer.image', images.chart.db),
    ...set('monitoring.exporter.image', images.chart.exporter),
    ...set('kubectlImage', images.chart.kubectl),
  ];
}

/** `helm test`, printing what each test pod says it checked. */
function helmTest(ns: string): void {
  const out = helm(['test', 'db', '--namespace', ns, '--logs', '--timeout', '10m'], { quiet: true });
  for (const line of out.split('\n').filter((l) => / ok$/.test(l))) console.log(`  ${line}`);
}

/** Installs a release from the OCI registry, waits for every pod to be Ready, runs `helm test`. */
async function installAndTest(
  label: string,
  ociRef: string,
  version: string,
  images: KindImages,
  valuesFile?: string,
  set: string[] = [],
): Promise<string | undefined> {
  const ns = `e2e-${label}`;
  let ok = await check(`${label}: helm install from ${ociRef} (--wait)`, () => {
    helm([
      'install',
      ...fromRegistry(ns, ociRef, version),
      '--create-namespace',
      ...(valuesFile ? ['-f', valuesFile] : []),
      ...imageValues(images),
      ...set.flatMap((kv) => ['--set', kv]),
      '--wait',
      '--timeout',
      '10m',
    ]);
  });
  if (ok) {
    ok = await check(`${label}: every StatefulSet and Deployment rolled out, every pod Ready`, () => {
      const workloads = kubectl(['-n', ns, 'get', 'statefulsets,deployments', '-o', 'name'], { quiet: true }).split('\n').filter(Boolean);
      if (!workloads.length) throw new Error('no workloads');
      for (const w of workloads) kubectl(['-n', ns, 'rollout', 'status', w, '--timeout=600s'], { quiet: true });
      kubectl(['-n', ns, 'wait', 'pod', '--all', '--for=condition=Ready', '--timeout=300s'], { quiet: true });
    });
  }
  if (ok)
    ok = await check(`${label}: helm test`, () => {
      helmTest(ns);
    });
  if (!ok) {
    spawnSync(toolPath('kubectl'), ['--kubeconfig', kubeconfig, '-n', ns, 'get', 'pods,svc,endpointslices,pvc', '-o', 'wide'], { stdio: 'inherit' });
    const pods = JSON.parse(kubectl(['-n', ns, 'get', 'pods', '-o', 'json'], { quiet: true })).items as any[];
    for (const p of pods.filter((x) => x.status.phase === 'Failed' || !(x.status.containerStatuses ?? []).every((c: any) => c.ready))) {
      console.log(`--- logs of ${p.metadata.name} (${p.status.phase})`);
      spawnSync(toolPath('kubectl'), ['--kubeconfig', kubeconfig, '-n', ns, 'logs', p.metadata.name, '--all-containers', '--tail', '40'], { stdio: 'inherit' });
    }
    return undefined;
  }
  return ns;
}

/**
 * A throw-away pod (the database image: it has bash for /dev/tcp) that tries TCP connections, each up to its number
 * of attempts (a new pod's address takes a moment to reach the policy rules, as with any NetworkPolicy
 * implementation, and its first DNS answer too); returns which opened.
 */
async function probe(ns: string, name: string, labels: Record<string, string>, image: string, tries: Record<string, number>): Promise<Record<string, boolean>> {
  const targets = Object.keys(tries);
  const script = targets
    .map((t) => {
      const [h, p] = t.split(':');
      const attempts = tries[t]!;
      return `r=closed; for i in $(seq ${attempts}); do if timeout 3 bash -c '</dev/tcp/${h}/${p}' 2>/dev/null; then r=open; break; fi; sleep 1; done; echo "${t} $r"`;
    })
    .join('\n');
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'probe',
          image,
          imagePullPolicy: 'IfNotPresent',
          command: ['bash', '-c', script],
          securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
        },
      ],
    },
  };
  kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod), quiet: true });
  await waitFor(`probe pod ${name} to finish`, 120_000, async () =>
    /Succeeded|Failed/.test(kubectl(['-n', ns, 'get', 'pod', name, '-o', 'jsonpath={.status.phase}'], { quiet: true })),
  );
  const out = kubectl(['-n', ns, 'logs', name], { quiet: true });
  kubectl(['-n', ns, 'delete', 'pod', name, '--wait=false'], { quiet: true });
  return Object.fromEntries(targets.map((t) => [t, new RegExp(`^${t.replace(/\./g, '\\.')} open$`, 'm').test(out)]));
}

async function networkPolicyChecks(ns: string, images: KindImages) {
  const pods = JSON.parse(kubectl(['-n', ns, 'get', 'pods', '-o', 'json'], { quiet: true })).items as any[];
  const db = pods.find((p) => p.metadata.labels?.['app.kubernetes.io/component'] === 'database' && p.status.podIP);
  const services = JSON.parse(kubectl(['-n', ns, 'get', 'svc', '-o', 'json'], { quiet: true })).items as any[];
  const pooler = services.find((s) => /pgbouncer-rw$/.test(s.metadata.name));
  const primary = services.find((s) => /-primary$/.test(s.metadata.name));
  if (!db || !pooler || !primary) throw new Error(`no database pod, rw pooler or primary Service found in ${ns}`);
  const clientLabel = Object.keys(
    JSON.parse(kubectl(['-n', ns, 'get', 'networkpolicy', '-o', 'json'], { quiet: true }))
      .items.flatMap((np: any) => np.spec.ingress ?? [])
      .flatMap((r: any) => r.from ?? [])
      .map((f: any) => f.podSelector?.matchLabels ?? {})
      .reduce((a: any, b: any) => ({ ...a, ...b }), {}),
  ).find((k) => k.endsWith('-client'));
  if (!clientLabel) throw new Error('no `<fullname>-client` label in the NetworkPolicies');
  const dbTargets = [`${db.status.podIP}:5432`, `${db.status.podIP}:8008`, `${primary.metadata.name}:5432`];
  const poolerTarget = `${pooler.metadata.name}:${pooler.spec.ports[0].port}`;
  await check('NetworkPolicy: a pod outside the allowed set reaches neither PostgreSQL (5432) nor Patroni (8008) nor the pooler', async () => {
    // the control: the same pod reaches the API server through its Service name, so "closed" below is the policy,
    // not a pod without network or DNS
    const control = 'kubernetes.default.svc:443';
    const r = await probe(
      ns,
      'np-outsider',
      { app: 'outsider' },
      images.chart.db,
      Object.fromEntries([[control, 5], ...[...dbTargets, poolerTarget].map((t) => [t, 1])]),
    );
    if (!r[control]) throw new Error(`the probe pod cannot reach ${control} either: no network or DNS, nothing proven`);
    const open = Object.entries(r)
      .filter(([k, v]) => v && k !== control)
      .map(([k]) => k);
    if (open.length) throw new Error(`reachable from an unlabelled pod: ${open.join(', ')}`);
  });
  await check(`NetworkPolicy: a pod labelled ${clientLabel}=true reaches the pooler, and still not Patroni's API`, async () => {
    const r = await probe(ns, 'np-client', { [clientLabel]: 'true' }, images.chart.db, { [poolerTarget]: 5, [`${db.status.podIP}:8008`]: 1 });
    if (!r[poolerTarget]) throw new Error(`${poolerTarget} is closed to an allowed client`);
    if (r[`${db.status.podIP}:8008`]) throw new Error(`Patroni's REST API is open to an application client`);
  });
}

/** A Secret's data, base64-decoded. */
function secretData(ns: string, name: string): Record<string, Buffer> {
  const data = JSON.parse(kubectl(['-n', ns, 'get', 'secret', name, '-o', 'json'], { quiet: true })).data as Record<string, string>;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

/**
 * A certificate renewal as cert-manager makes it: a new key and a certificate for the same names, signed by the
 * same CA. Returns the PEM files and the new serial.
 */
function renewedCertificate(old: Buffer, caCrt: Buffer, caKey: Buffer): { crt: Buffer; key: Buffer; serial: string } {
  const dir = mkdtempSync(join(work, 'renew-'));
  const f = (name: string) => join(dir, name);
  writeFileSync(f('old.crt'), old);
  writeFileSync(f('ca.crt'), caCrt);
  writeFileSync(f('ca.key'), caKey);
  const openssl = (argv: string[]) => sh('openssl', argv, { quiet: true });
  const sans = openssl(['x509', '-in', f('old.crt'), '-noout', '-ext', 'subjectAltName'])
    .split('\n')
    .slice(1)
    .join('')
    .trim()
    .replaceAll('IP Address:', 'IP:');
  const subj = ['-subj', '/CN=pgfleet-renewed', '-addext', `subjectAltName=${sans}`];
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('new.key'), '-out', f('new.csr'), ...subj]);
  const sign = ['-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '30', '-copy_extensions', 'copy'];
  openssl(['x509', '-req', '-in', f('new.csr'), ...sign, '-out', f('new.crt')]);
  const serial = openssl(['x509', '-in', f('new.crt'), '-noout', '-serial'])
    .trim()
    .replace(/^serial=/, '');
  return { crt: readFileSync(f('new.crt')), key: readFileSync(f('new.key')), serial };
}

/** The serial of the certificate served at `target`, asked with openssl from a container of `pod`. */
function servedSerial(ns: string, pod: string, target: string, starttls?: 'postgres'): string {
  const connect = `openssl s_client ${starttls ? `-starttls ${starttls} ` : ''}-connect "$1" </dev/null 2>/dev/null | openssl x509 -noout -serial`;
  const argv = ['--kubeconfig', kubeconfig, '-n', ns, 'exec', pod, '-c', 'postgres', '--', 'sh', '-c', connect, 'sh', target];
  const r = spawnSync(toolPath('kubectl'), argv, { encoding: 'utf8', timeout: 30_000 });
  return r.stdout.trim().replace(/^serial=/, '');
}

/** Pods by label selector, with the sum of their containers' restarts. */
function podsOf(ns: string, selector: string): { pods: any[]; restarts: number } {
  const pods = JSON.parse(kubectl(['-n', ns, 'get', 'pods', '-l', selector, '-o', 'json'], { quiet: true })).items as any[];
  const restarts = pods.reduce((n, p) => n + (p.status.containerStatuses ?? []).reduce((m: number, c: any) => m + c.restartCount, 0), 0);
  return { pods, restarts };
}

/**
 * Replaces a TLS Secret's certificate and key in place, as cert-manager renews them, and waits until every
 * target serves the new certificate (the kubelet's update plus the reload interval), with no container restarted.
 */
async function renewAndWait(
  ns: string,
  o: {
    secret: string;
    files: [crt: string, key: string];
    caSecret: string;
    selector: string;
    target: (pod: any) => [from: string, address: string];
    starttls?: 'postgres';
  },
): Promise<void> {
  const [crtFile, keyFile] = o.files;
  const ca = secretData(ns, o.caSecret);
  const renewed = renewedCertificate(secretData(ns, o.secret)[crtFile]!, ca['ca.crt']!, ca['ca.key']!);
  const { pods, restarts } = podsOf(ns, o.selector);
  const patch = { data: { [crtFile]: renewed.crt.toString('base64'), [keyFile]: renewed.key.toString('base64') } };
  kubectl(['-n', ns, 'patch', 'secret', o.secret, '--type=merge', '-p', JSON.stringify(patch)], { quiet: true });
  const t0 = Date.now();
  const targets = pods.map(o.target);
  await waitFor(
    `the new certificate (serial ${renewed.serial}) on ${targets.map(([, t]) => t).join(', ')}`,
    240_000,
    async () => targets.every(([pod, t]) => servedSerial(ns, pod, t, o.starttls) === renewed.serial),
    5000,
  );
  console.log(`  served by all ${targets.length} servers ${((Date.now() - t0) / 1000).toFixed(0)} s after the Secret changed`);
  const after = podsOf(ns, o.selector).restarts;
  if (after !== restarts) throw new Error(`containers restarted (${restarts} -> ${after} restarts)`);
}

/**
 * A renewal of the release's TLS certificate: PostgreSQL on every member and every PgBouncer must serve the new one,
 * each asked from the first database pod (PostgreSQL's own STARTTLS).
 */
async function tlsRenewalCheck(ns: string): Promise<void> {
  await check('TLS renewal: a replaced certificate is served by PostgreSQL and PgBouncer without a restart', async () => {
    const from = podsOf(ns, 'app.kubernetes.io/component=database').pods[0].metadata.name as string;
    await renewAndWait(ns, {
      secret: 'db-pgfleet-tls',
      files: ['tls.crt', 'tls.key'],
      caSecret: 'db-pgfleet-tls-ca',
      selector: 'app.kubernetes.io/component in (database,pgbouncer)',
      target: (p) => [from, `${p.status.podIP}:${p.metadata.labels['app.kubernetes.io/component'] === 'database' ? 5432 : 6432}`],
      starttls: 'postgres',
    });
  });
}

/**
 * A renewal of the backup server certificate (the `pgbackrest` sidecars, mutual TLS with the backup Jobs): each
 * sidecar must serve the new one, asked inside its own pod (the NetworkPolicy opens 8432 to the backup Jobs only),
 * with no restart, and a backup Job must then get through it.
 */
async function backupTlsRenewalCheck(ns: string, cluster: KubeCluster): Promise<void> {
  await check('TLS renewal: the pgBackRest servers serve a replaced certificate without a restart, and a backup goes through', async () => {
    await renewAndWait(ns, {
      secret: 'db-pgfleet-backup-tls',
      files: ['server.crt', 'server.key'],
      caSecret: 'db-pgfleet-backup-tls',
      selector: 'app.kubernetes.io/component=database',
      target: (p) => [p.metadata.name, '127.0.0.1:8432'],
    });
    const [shard] = await cluster.shards();
    await cluster.backup(shard!, 'full');
  });
}

/**
 * The drills' writer runs in a pod on the control-plane node, which no drill stops (node-loss first moves the
 * primary off it; control-plane-loss freezes only the control plane's own pods), and reaches the poolers through
 * Services and kube-proxy, as applications do. Its reports come back through the node's container runtime, not the
 * API server.
 */
const CLIENT = { node: `${CLUSTER}-control-plane` };

/**
 * The drills run on kind, each a check; the ones Kubernetes adds to tier 2's are node-loss and the faults made on
 * nodes. `--drill-set a,b` runs others instead (pooler, replica-rebuild, chaos), e.g. to measure them.
 */
const KIND_DRILLS = args.flags['drill-set']
  ? String(args.flags['drill-set']).split(',')
  : ['failover', 'graceful', 'switchover', 'partition', 'freeze', 'node-loss', 'control-plane-loss'];

/** The write-gap target of each drill that has one (the issue's acceptance), in ms. */
const gapTargetMs = (scenario: string, ttl = 30): number | undefined =>
  scenario === 'failover' ? (ttl + 2) * 1000 : PLANNED.includes(scenario) ? 3000 : undefined;
/** Planned handovers: the poolers hold clients while the primary moves, so no client may see an error. */
const PLANNED = ['graceful', 'switchover'];

/**
 * What each drill must show on kind: no acknowledged write lost (synchronous mode), each drill's own invariants
 * (runDrill's failures: split brain, a lock taken back), and no client error in a planned handover. The speed
 * targets are medians, so they are asserted over 3 runs or more.
 */
function drillProblems(r: DrillResult, runs: number): string[] {
  const out = [...r.failures];
  if (r.acknowledgedWritesLost) out.push(`${r.acknowledgedWritesLost} acknowledged writes lost`);
  if (PLANNED.includes(r.scenario) && r.clientErrors) out.push(`${r.clientErrors} client errors in a planned handover`);
  const target = gapTargetMs(r.scenario, r.ttl);
  if (runs >= 3 && target !== undefined && r.writeGapMs.p50 > target) out.push(`gap p50 ${r.writeGapMs.p50} ms > target ${target} ms`);
  return [...new Set(out)];
}

/** A line of a drill's progress, with the time. */
const log = (l: string) => console.log(`  [${new Date().toISOString().slice(11, 19)}] ${l}`);

/** A drill as one check: its result (or its failure) goes to `results`, and drillProblems decide the check. */
async function drillCheck(name: string, cluster: KubeCluster, scenario: string, runs: number, timeoutS: number, results: DrillResult[]): Promise<void> {
  await check(name, async () => {
    const r = await runDrill(cluster, scenario, { runs, log, timeoutS }).catch((err) => {
      results.push(failedDrill(scenario, err));
      throw err;
    });
    results.push(r);
    const problems = drillProblems(r, runs);
    if (problems.length) throw new Error(problems.join('; '));
  });
}

async function drills(ociRef: string, version: string, images: KindImages): Promise<void> {
  const runs = Number(args.flags['drill-runs'] ?? 1);
  const ns = await installAndTest('drills', ociRef, version, images, undefined, ['replicas=2', 'patroni.synchronousMode=on', 'resources.requests.cpu=100m']);
  if (!ns) return;
  await check("Patroni's REST API refuses a switchover without credentials (401), from another database pod", () => {
    const pods = JSON.parse(kubectl(['-n', ns, 'get', 'pods', '-l', 'app.kubernetes.io/component=database', '-o', 'json'], { quiet: true })).items as any[];
    const [from, to] = pods;
    if (!from || !to) throw new Error('fewer than 2 database pods');
    const post =
      'import sys, urllib.request, urllib.error\ntry:\n    urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=b"{}", method="POST"), timeout=5)\n    print("accepted")\nexcept urllib.error.HTTPError as e:\n    print(e.code)';
    const got = kubectl(['-n', ns, 'exec', from.metadata.name, '-c', 'postgres', '--', 'python3', '-c', post, `http://${to.status.podIP}:8008/switchover`], {
      quiet: true,
    }).trim();
    if (got !== '401') throw new Error(`POST /switchover without credentials answered ${got}`);
  });
  const cluster = new KubeCluster({ context: `kind-${CLUSTER}`, namespace: ns, release: 'db', kubeconfig, nodes: kindNodes(env.DOCKER_HOST!), client: CLIENT });
  const results: DrillResult[] = [];
  const walDrops: WalDrop[] = [];
  try {
    try {
      for (const name of KIND_DRILLS) {
        await drillCheck(
          `drill ${name} on kind (${runs} run${runs > 1 ? 's' : ''}): nothing acknowledged is lost${PLANNED.includes(name) ? ', no client error' : ''}${runs >= 3 && gapTargetMs(name) !== undefined ? ', gap p50 within target' : ''}`,
          cluster,
          name,
          runs,
          240,
          results,
        );
      }
    } finally {
      await cluster.close();
    }
    await uninstall(ns);
    await backups(ociRef, version, images, results, walDrops);
  } finally {
    console.log(table(results));
    writeDrillsJson(version, runs, results, walDrops);
  }
}

/** With --drills-json FILE: the raw results, with the machine, the versions and the values they were measured with. */
function writeDrillsJson(version: string, runs: number, results: DrillResult[], walDrops: WalDrop[]): void {
  if (!args.flags['drills-json']) return;
  const nodeVersion = JSON.parse(kubectl(['version', '-o', 'json'], { quiet: true })).serverVersion.gitVersion;
  writeFileSync(
    String(args.flags['drills-json']),
    `${JSON.stringify(
      {
        tier: 'kind (tier 3)',
        measuredAt: new Date().toISOString(),
        machine: machine(),
        chart: version,
        versions: { kubernetes: nodeVersion, kind: KIND.kind, patroni: PATRONI, postgresql: '15 (Debian bookworm)', pgbouncer: '1.18 (Debian bookworm)' },
        values: { replicas: 2, 'patroni.synchronousMode': 'on', 'resources.requests.cpu': '100m' },
        restoreValues: 'ci/22-backups-s3rver-values.yaml with backups.s3.endpoint = the kind network gateway (s3rver), resources.requests.cpu=100m',
        runs,
        results,
        ...(walDrops.length ? { walDrops } : {}),
      },
      null,
      2,
    )}\n`,
  );
}

/**
 * Backups on kind: s3rver (TLS, self-signed, real signature checks) on this machine, listening on the kind network's
 * gateway address, which pods reach through their node. The release is ci/22-backups-s3rver pointed at it; helm
 * test, then the restore drill: a full backup, writes, a point-in-time restore of the shard in place (helm upgrade
 * with restore values over the emptied shard) that must bring back exactly the rows acknowledged before the target;
 * then a renewal of the backup server certificate and WAL dropped on purpose (walDrop).
 */
async function backups(ociRef: string, version: string, images: KindImages, drillResults: DrillResult[], walDrops: WalDrop[]): Promise<void> {
  const config = JSON.parse(sh('docker', ['network', 'inspect', 'kind', '--format', '{{json .IPAM.Config}}'], { quiet: true })) as { Gateway?: string }[];
  const gateway = config.map((c) => c.Gateway).find((g) => g && /^[0-9.]+$/.test(g));
  if (!gateway) throw new Error(`the kind network has no IPv4 gateway: ${JSON.stringify(config)}`);
  const script = s3rverScript(join(work, 's3'), { bucket: 'pgfleet', address: gateway, names: ['s3rver', gateway] });
  // The s3-outage drill stops it and starts it again (same data, same certificate): `s3` is always the current one.
  let s3: ChildProcess | undefined;
  cleanups.push(() => {
    s3?.kill('SIGTERM');
  });
  const s3Control = {
    start: async () => {
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
      s3 = child;
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      await waitFor(`s3rver on ${gateway}:${S3RVER.port}`, 30_000, async () => out.includes(S3RVER.ready));
    },
    stop: async () => {
      const child = s3!;
      if (child.exitCode !== null) throw new Error(`s3rver had already exited (${child.exitCode})`);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
  await s3Control.start();
  const ns = 'e2e-backups';
  kubectl(['create', 'namespace', ns], { quiet: true });
  kubectl(
    [
      '-n',
      ns,
      'create',
      'secret',
      'generic',
      's3rver-credentials',
      `--from-literal=access-key-id=${S3RVER.key}`,
      `--from-literal=secret-access-key=${S3RVER.key}`,
    ],
    { quiet: true },
  );
  const file = join(chartDir, 'ci', '22-backups-s3rver-values.yaml');
  const set = [`backups.s3.endpoint=${gateway}`, 'resources.requests.cpu=100m', 'pooler.pgbouncer.maxPreparedStatements=null'];
  if (!(await installAndTest('backups', ociRef, version, images, file, set))) return;
  const upgrade = async (extra: Record<string, string>) => {
    helm(['upgrade', ...fromRegistry(ns, ociRef, version), '--reuse-values', ...Object.entries(extra).flatMap(([k, v]) => ['--set', `${k}=${v}`])]);
  };
  const cluster = new KubeCluster({ context: `kind-${CLUSTER}`, namespace: ns, release: 'db', kubeconfig, upgrade, client: CLIENT, s3: s3Control });
  try {
    await drillCheck(
      'drill s3-outage on kind: S3 down for a minute, writes go on, every WAL segment of the outage reaches the repository',
      cluster,
      's3-outage',
      1,
      300,
      drillResults,
    );
    await drillCheck(
      'drill restore on kind: a point-in-time restore brings back exactly the rows acknowledged before the target',
      cluster,
      'restore',
      1,
      600,
      drillResults,
    );
    await check('backups: helm test after the restore', () => {
      helmTest(ns);
    });
    await backupTlsRenewalCheck(ns, cluster);
    for (const archiveAsync of WAL_DROP_MODES)
      await check(
        `backups: WAL that pgBackRest dropped past pushQueueMax in an S3 outage (${archiveAsync ? 'asynchronous' : 'synchronous'} archiving) is named by the next backup Job`,
        async () => {
          walDrops.push(await walDrop(cluster, ns, upgrade, s3Control, archiveAsync));
        },
      );
  } finally {
    await cluster.close();
  }
  await uninstall(ns);
}

/**
 * The archiving modes walDrop runs in: asynchronous (the chart's default) always; `--wal-drop-sync` adds
 * synchronous archiving after it, so that both are measured side by side on one release.
 */
const WAL_DROP_MODES = args.flags['wal-drop-sync'] ? [true, false] : [true];

/** What one dropped-WAL run measured: how long S3 was down before pgBackRest dropped, and what the Job named. */
interface WalDrop {
  archiveAsync: boolean;
  pushQueueMax: string;
  switched: string[];
  droppedAfterS: number;
  archiverWhenDropped: string;
  named: string[];
  missingSegmentsMetric: number;
}

/**
 * The dropped-WAL gap on kind: with `pushQueueMax` at two segments, S3 down and six WAL switches, pgBackRest drops
 * queued segments and tells PostgreSQL they were archived; once S3 is back, the next backup Job must name the
 * missing segments (wal-gaps.py) and count them in pgfleet_backup_wal_missing_segments. Asynchronous archiving is
 * the chart's default; the release under test (ci/22) archives synchronously until this upgrade sets the mode.
 */
async function walDrop(
  cluster: KubeCluster,
  ns: string,
  upgrade: (extra: Record<string, string>) => Promise<void>,
  s3: { start: () => Promise<void>; stop: () => Promise<void> },
  archiveAsync: boolean,
): Promise<WalDrop> {
  const pushQueueMax = '32Mi';
  await upgrade({ 'backups.archiveAsync.pushQueueMax': pushQueueMax, 'backups.archiveAsync.enabled': String(archiveAsync) });
  const [shard] = await cluster.shards();
  const on = { member: (await cluster.primary(shard!))!.name };
  // pgbackrest.conf is not in the pods' checksum: the kubelet updates the mounted file, archive-push reads it each time.
  const lines = [`archive-async=${archiveAsync ? 'y' : 'n'}`, 'archive-push-queue-max=32MiB'];
  const has = lines.map((l) => `strpos(pg_read_file('/etc/pgbackrest/pgbackrest.conf'), '${l}\n') > 0`).join(' AND ');
  await waitFor(`${on.member} to see ${lines.join(' and ')}`, 180_000, async () => (await cluster.sql(on, `SELECT ${has}`))[0]![0] === 't', 5000);
  // The window the check reads starts at the oldest backup: one before the outage.
  await cluster.backup(shard!, 'full');
  const archiver = async () =>
    (
      await cluster.sql(
        on,
        "SELECT coalesce(last_archived_wal, ''), coalesce(last_archived_wal, '-') || ' archived, ' || failed_count || ' failed' FROM pg_stat_archiver",
      )
    )[0]!;
  const lastArchived = async () => (await archiver())[0]!;
  const switched: string[] = [];
  let droppedAfterS = 0;
  let archiverWhenDropped = '';
  await s3.stop();
  try {
    await cluster.sql(on, 'CREATE TABLE IF NOT EXISTS e2e_wal_drop (at timestamptz)');
    for (let i = 0; i < 6; i++) {
      await cluster.sql(on, 'INSERT INTO e2e_wal_drop VALUES (now())');
      switched.push((await cluster.sql(on, 'SELECT pg_walfile_name(pg_switch_wal())'))[0]![0]!);
    }
    // Nothing reaches S3 now: a segment of the outage reported archived was dropped. In either mode the push run
    // in flight first retries the unreachable S3 until pgBackRest's timeouts (minutes); only a later run drops.
    const started = Date.now();
    await waitFor(
      `pgBackRest to drop WAL of the outage (switched ${switched[0]}..${switched.at(-1)})`,
      540_000,
      async () => {
        if ((await lastArchived()) >= switched[1]!) return true;
        if ((Date.now() - started) % 60_000 < 2000) console.log(`  ${Math.round((Date.now() - started) / 1000)} s: ${(await archiver())[1]}`);
        return false;
      },
      2000,
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}; the archiver: ${(await archiver())[1]}`);
    });
    droppedAfterS = Math.round((Date.now() - started) / 1000);
    archiverWhenDropped = (await archiver())[1]!;
    console.log(`  dropped after ${droppedAfterS} s: ${archiverWhenDropped}`);
  } finally {
    await s3.start();
  }
  await cluster.sql(on, 'INSERT INTO e2e_wal_drop VALUES (now())');
  const after = (await cluster.sql(on, 'SELECT pg_walfile_name(pg_switch_wal())'))[0]![0]!;
  await waitFor(`${after} to be archived once S3 is back`, 240_000, async () => (await lastArchived()) >= after, 2000);
  const job = await cluster.backup(shard!, 'full');
  const log = kubectl(['-n', ns, 'logs', `job/${job}`], { quiet: true });
  // Earlier runs' holes are still in the window: only this outage's segments count here.
  const named = [...log.matchAll(new RegExp(`WARNING: stanza ${shard} repo1: WAL ([0-9A-F]{24})[^\n]* is missing from the repository`, 'g'))]
    .map((m) => m[1]!)
    .filter((w) => switched.includes(w));
  if (!named.length) throw new Error(`the backup Job did not name a segment of the outage (${switched.join(' ')}) as missing:\n${log.slice(-2000)}`);
  const missingSegmentsMetric = Number(new RegExp(`pgfleet_backup_wal_missing_segments\\{stanza="${shard}",repo="1"\\} (\\d+)`).exec(log)?.[1] ?? 0);
  if (missingSegmentsMetric < 1) throw new Error(`pgfleet_backup_wal_missing_segments is not above 0:\n${log.slice(-2000)}`);
  console.log(`  named missing: ${named.join(' ')}; pgfleet_backup_wal_missing_segments ${missingSegmentsMetric}`);
  return { archiveAsync, pushQueueMax, switched, droppedAfterS, archiverWhenDropped, named, missingSegmentsMetric };
}

/** The machine a figure was measured on, as it says of itself. */
function machine(): string {
  const cpus = readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('processor')).length;
  const mem = Math.round(Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 2 ** 20);
  return `${cpus} cores, ${mem} GiB, Linux ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`;
}

if (args.flags.down) {
  // after --keep: delete the kept cluster, stop the project's dockerd (the user's own engine stays as it is) and
  // remove the kept run's directory with its kubeconfig (and this run's own)
  const kept = () => {
    for (const d of readdirSync(tmpdir()).filter((n) => n.startsWith('pgfleet-e2e-'))) rmSync(join(tmpdir(), d), { recursive: true, force: true });
  };
  if (!existsSync(OWN_DOCKER.firewall)) {
    kept();
    console.log("nothing kept: the project's dockerd is not running");
    process.exit(0);
  }
  const bin = await goBinaries();
  spawnSync(join(bin, 'kind'), ['delete', 'cluster', '--name', CLUSTER], {
    env: { ...process.env, DOCKER_HOST: `unix://${OWN_DOCKER.socket}` },
    stdio: 'inherit',
  });
  await stopOwnEngine();
  kept();
  process.exit(0);
}

let engineStop: (() => Promise<void>) | undefined;
let tornDown: Promise<void> | undefined;
/** Deletes the cluster, stops the registry and the project's dockerd (restoring the firewall): once, however we end. */
const teardown = () =>
  (tornDown ??= (async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        console.error(`cleanup: ${(err as Error).message}`);
      }
    }
    if (args.flags.keep) {
      console.log(
        `kept: DOCKER_HOST=${env.DOCKER_HOST} KUBECONFIG=${kubeconfig}; \`npm run e2e:kind -- --down\` removes the cluster and stops the project's dockerd`,
      );
      return;
    }
    if (engineStop) await engineStop();
    rmSync(work, { recursive: true, force: true });
  })());
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`e2e:kind: ${sig}, tearing down`);
    void teardown().finally(() => process.exit(130));
  });
}
try {
  const bin = await step('Go binaries (cached by setup:kind)', goBinaries);
  const engine = await startEngine(join(bin, 'pgfleet-runc'));
  engineStop = engine.stop;
  env = { DOCKER_HOST: engine.host, KIND_EXPERIMENTAL_PROVIDER: 'docker', PATH: `${bin}:${process.env.PATH}` };
  const images = await step('images (built by setup:kind)', () => buildImages(dockerWith(engine.host), bin));
  const kind = join(bin, 'kind');
  spawnSync(kind, ['delete', 'cluster', '--name', CLUSTER], { env: { ...process.env, ...env }, stdio: 'ignore' });
  writeFileSync(join(work, 'kind.yaml'), kindConfig());
  const created = await check('kind cluster with 3 Ready nodes', async () => {
    cleanups.push(() => {
      if (!args.flags.keep) spawnSync(kind, ['delete', 'cluster', '--name', CLUSTER], { env: { ...process.env, ...env }, stdio: 'inherit' });
    });
    sh(kind, ['create', 'cluster', '--name', CLUSTER, '--image', images.node, '--config', join(work, 'kind.yaml'), '--kubeconfig', kubeconfig, '--wait', '5m']);
    // kind waits for the control plane only; the workers join and get their pod network a little later
    const state = () =>
      (JSON.parse(kubectl(['get', 'nodes', '-o', 'json'], { quiet: true })).items as any[]).map((n) => ({
        name: n.metadata.name as string,
        ready: n.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True'),
        taints: (n.spec.taints ?? []).filter((t: any) => t.effect !== 'PreferNoSchedule').map((t: any) => t.key as string),
      }));
    await waitFor('3 Ready nodes without taints', 240_000, async () => state().filter((n) => n.ready && !n.taints.length).length === 3).catch((err) => {
      throw new Error(`${err.message}: ${JSON.stringify(state())}`);
    });
    kubectl(['-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', '--timeout=300s']);
    kubectl(['-n', 'local-path-storage', 'rollout', 'status', 'deployment/local-path-provisioner', '--timeout=300s']);
  });
  if (!created) throw new Error('no cluster');
  await check('images loaded into every node', () => {
    sh(kind, ['load', 'docker-image', '--name', CLUSTER, ...new Set(Object.values(images.chart))]);
  });

  const registry = await startRegistry();
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8'));
  const ociRef = `oci://${registry}/charts/${chart.name}`;
  await check(`chart ${chart.name} ${chart.version} packaged and pushed to oci://${registry}/charts`, () => {
    mkdirSync(join(work, 'pkg'));
    helm(['package', chartDir, '--destination', join(work, 'pkg')]);
    helm(['push', join(work, 'pkg', `${chart.name}-${chart.version}.tgz`), `oci://${registry}/charts`, '--plain-http']);
  });

  const only = args.flags.drills ? 'drills' : args.flags.lifecycle ? 'lifecycle' : args.flags.backups ? 'backups' : args.flags.ci ? 'ci' : undefined;
  const ns = only ? undefined : await installAndTest('defaults', ociRef, chart.version, images);
  if (ns) await networkPolicyChecks(ns, images);
  if (ns) await tlsRenewalCheck(ns);
  if (ns) await uninstall(ns);
  if (!args.flags.quick && (!only || only === 'drills')) await drills(ociRef, chart.version, images);
  if (only === 'backups') {
    const restored: DrillResult[] = [];
    const walDrops: WalDrop[] = [];
    await backups(ociRef, chart.version, images, restored, walDrops);
    console.log(table(restored));
    writeDrillsJson(chart.version, 1, restored, walDrops);
  }
  if (!args.flags.quick && (!only || only === 'lifecycle')) {
    await lifecycle(
      {
        check,
        helm,
        kubectl,
        helmTest,
        images: imageValues(images),
        registry,
        context: `kind-${CLUSTER}`,
        kubeconfig,
        work,
        nodes: kindNodes(env.DOCKER_HOST!),
        client: CLIENT,
        log,
        install: (label, version, set) => installAndTest(label, ociRef, version, images, undefined, set),
      },
      chart.version,
    );
  }
  if (!only || only === 'ci')
    for (const file of readdirSync(join(chartDir, 'ci'))
      .filter((f) => f.endsWith('-values.yaml') && (!args.flags.ci || f.startsWith(String(args.flags.ci))))
      .sort()) {
      const why = NOT_HERE[file];
      if (why) {
        console.log(`- ${file}: not installed here (${why})`);
        continue;
      }
      if (args.flags.quick) break;
      const label = file.replace(/-values\.yaml$/, '');
      const setup = CI_SETUP[file];
      if (setup?.before && !(await setup.before(`e2e-${label}`))) continue;
      // Two departures from the file, both for this machine and the test image, everything else as written:
      // - the 3 nodes share 2 cores, and 500m per database pod would leave pods Pending: 100m;
      // - Debian's PgBouncer 1.18 in the test image predates max_prepared_statements (1.21): the key is left out,
      //   as the chart does by default.
      const installed = await installAndTest(label, ociRef, chart.version, images, join(chartDir, 'ci', file), [
        'resources.requests.cpu=100m',
        'pooler.pgbouncer.maxPreparedStatements=null',
      ]);
      if (installed && setup?.after) await setup.after(installed);
      if (installed) await uninstall(installed);
    }
} catch (err) {
  results.push({ name: 'e2e:kind', ok: false, detail: (err as Error).message });
  console.error(`e2e:kind stopped: ${(err as Error).message}`);
} finally {
  await teardown();
}

const failed = results.filter((r) => !r.ok);
for (const f of failed) console.log(`FAILED ${f.name}: ${f.detail}`);
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
