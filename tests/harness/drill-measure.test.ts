// What the drills measure, on made-up acknowledgement streams; and the Service stand-ins' health checks.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { percentile, summary, writeGap, type Ack } from '../../scripts/lib/drills/writer.ts';
import { haproxyConfig } from '../../scripts/lib/local/haproxy.ts';
import { Readiness } from '../../scripts/lib/local/endpoints.ts';

const acks = (times: number[], server = '10.0.0.1'): Ack[] => times.map((t, i) => ({ id: i + 1, sentAt: t - 5, ackAt: t, server }));

const gap = suite('drill measurements');
gap('the write gap is the longest stretch without an acknowledgement ending after the fault', () => {
  const a = acks([0, 20, 40, 60, 3060, 3080, 3100]);
  const g = writeGap(a, 50);
  assert.is(g.gapMs, 3000);
  assert.is(g.lastBefore!.ackAt, 60);
  assert.is(g.firstAfter!.ackAt, 3060);
});
gap('a longer stretch that ended before the fault does not count', () => {
  assert.is(writeGap(acks([0, 5000, 5020, 5040, 5500]), 5010).gapMs, 460);
});
gap('percentiles are nearest-rank', () => {
  assert.is(percentile([5, 1, 4, 2, 3], 50), 3);
  assert.is(percentile([5, 1, 4, 2, 3], 95), 5);
  assert.equal(summary([17_000, 19_000, 18_000]), { p50: 18_000, p95: 19_000, max: 19_000 });
  assert.ok(Number.isNaN(percentile([], 50)));
});
gap.run();

const services = suite('local Service stand-ins');
services('listeners list every candidate pod disabled, check nothing themselves and never retry; the runtime API socket is on', () => {
  const cfg = haproxyConfig(
    [
      {
        name: 's-primary-5432',
        bind: '10.1.0.100',
        port: 5432,
        backends: [
          { name: 'p0', ip: '10.1.0.20', port: 5432 },
          { name: 'p1', ip: '10.1.0.21', port: 5432 },
        ],
      },
      { name: 'pooler-6432', bind: '10.1.0.101', port: 6432, backends: [{ name: 'b0', ip: '10.1.0.30', port: 6432 }] },
    ],
    { pidfile: '/x/pid', socket: '/x/sock' },
  );
  assert.match(
    cfg,
    /listen s-primary-5432\n  bind 10\.1\.0\.100:5432\n  balance roundrobin\n  server p0 10\.1\.0\.20:5432 disabled\n  server p1 10\.1\.0\.21:5432 disabled\n/,
  );
  assert.match(cfg, /stats socket \/x\/sock mode 600 level admin/);
  assert.not.match(cfg, /check|httpchk/);
  assert.match(cfg, /retries 0/);
});

services('readiness follows kubelet semantics: not ready until a probe passes, unready after failureThreshold failures in a row', async () => {
  const results = [false, true, true, false, false, true, false, false, false];
  const r = new Readiness({ failureThreshold: 3 }, async () => results.shift()!);
  const seen: boolean[] = [];
  assert.is(r.ready, false);
  while (results.length) {
    await r.tick();
    seen.push(r.ready);
  }
  assert.equal(seen, [false, true, true, true, true, true, true, true, false]);
  r.stop();
  assert.is(r.ready, false, 'a stopped (terminating or exited) container is not ready');
  assert.is(new Readiness(undefined, async () => false).ready, true, 'a container without a readinessProbe is ready while it runs');
});

services.run();
