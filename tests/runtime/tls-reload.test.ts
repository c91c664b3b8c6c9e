// The tls-reload sidecar's script (files/scripts/tls-reload.sh, as rendered into the scripts ConfigMap), run for
// real with sh: it reloads once per change of the watched files and not otherwise, retries a failed reload at the
// next check, and exits at once on SIGTERM (a pod's deletion must not wait out the grace period). The script is
// stopped by its PID in `finally`.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { one, render } from '../../scripts/lib/helm.ts';
import { sleep, waitFor } from '../../scripts/lib/proc.ts';

const script = one(render().objects, 'ConfigMap', 'db-pgfleet-scripts').data['tls-reload.sh'] as string;
const reload = suite('tls-reload.sh');

reload('one reload per change of the watched files, a failed one retried, SIGTERM ends it at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-tls-reload-'));
  const [certs, clientCerts] = [join(dir, 'tls'), join(dir, 'client-tls')];
  for (const d of [certs, clientCerts]) mkdirSync(d);
  writeFileSync(join(certs, 'tls.crt'), 'one');
  writeFileSync(join(clientCerts, 'tls.crt'), 'one');
  writeFileSync(join(dir, 'tls-reload.sh'), script);
  const log = join(dir, 'reloads');
  // the "server": records each reload; fails while the file `broken` exists
  const child = spawn('sh', [join(dir, 'tls-reload.sh'), 'sh', '-c', `test ! -e ${dir}/broken && echo reload >> ${log}`], {
    env: { ...process.env, TLS_RELOAD_DIRS: `${certs} ${clientCerts}`, TLS_RELOAD_INTERVAL: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number>((resolve) => child.once('exit', () => resolve(Date.now())));
  const reloads = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0);
  try {
    await sleep(2500);
    assert.is(reloads(), 0, 'reloaded without a change');
    writeFileSync(join(certs, 'tls.crt'), 'two');
    await waitFor('a reload after the certificate changed', 5000, async () => reloads() === 1, 100);
    await sleep(2500);
    assert.is(reloads(), 1, 'reloaded again without a change');
    writeFileSync(join(dir, 'broken'), '');
    writeFileSync(join(clientCerts, 'tls.crt'), 'two');
    await sleep(2500);
    assert.is(reloads(), 1, 'a failed reload was counted');
    rmSync(join(dir, 'broken'));
    await waitFor('the failed reload retried', 5000, async () => reloads() === 2, 100);
    const sent = Date.now();
    child.kill('SIGTERM');
    assert.ok((await exited) - sent < 800, 'SIGTERM did not end it at once');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
reload.run();
