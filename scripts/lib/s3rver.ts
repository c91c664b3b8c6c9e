// s3rver (the npm package) as the S3 endpoint of the test tiers: over TLS with a self-signed certificate, path-style
// URIs, real signature checks with s3rver's fixed credentials. Tier 2 runs it in a network namespace, e2e:kind on
// the kind network's gateway address. The caller starts the script and stops it by its PID.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './tools.ts';

export const S3RVER = {
  port: 4568,
  /** s3rver's fixed access key id and secret, checked against each request's signature. */
  key: 'S3RVER',
  /** The line the script prints once it listens. */
  ready: 's3rver listening',
};

/**
 * Writes a key, a self-signed certificate for `names` (DNS names and IP addresses) and a Node script that serves
 * `bucket` from `dir`/data on `address`:`port`. Returns the script's path (run it with process.execPath).
 */
export function s3rverScript(dir: string, o: { bucket: string; address: string; names: string[]; port?: number }): string {
  mkdirSync(join(dir, 'data'), { recursive: true });
  const san = o.names.map((n) => (/^[0-9.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '7',
      '-subj',
      `/CN=${o.names[0]}`,
      '-addext',
      `subjectAltName=${san}`,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl req: ${r.stderr}`);
  const script = join(dir, 's3rver.mjs');
  writeFileSync(
    script,
    [
      `import S3rver from ${JSON.stringify(join(root, 'node_modules', 's3rver', 'lib', 's3rver.js'))};`,
      "import { readFileSync } from 'node:fs';",
      `const s = new S3rver({ address: ${JSON.stringify(o.address)}, port: ${o.port ?? S3RVER.port}, silent: true, directory: ${JSON.stringify(join(dir, 'data'))},`,
      `  key: readFileSync(${JSON.stringify(join(dir, 'key.pem'))}), cert: readFileSync(${JSON.stringify(join(dir, 'cert.pem'))}),`,
      `  configureBuckets: [{ name: ${JSON.stringify(o.bucket)} }], vhostBuckets: false, allowMismatchedSignatures: false });`,
      'await s.run();',
      `console.log(${JSON.stringify(S3RVER.ready)});`,
    ].join('\n'),
  );
  return script;
}
