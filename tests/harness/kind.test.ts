// Tier 3's host-side helpers that need no Docker: how dockerd's leftover firewall rules are read back for deletion,
// and the etcd fixture the etcd3 values file is installed against.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { splitRule } from '../../scripts/lib/kind/docker.ts';
import { ETCD_IMAGE, etcdFixture } from '../../scripts/lib/kind/etcd.ts';
import { chartDir } from '../../scripts/lib/tools.ts';

const rules = suite('kind: dockerd firewall clean-up');

rules('iptables -S lines split into arguments, quoted comments kept whole', () => {
  assert.equal(splitRule('-D FORWARD -o br-0123456789ab -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'), [
    '-D',
    'FORWARD',
    '-o',
    'br-0123456789ab',
    '-m',
    'conntrack',
    '--ctstate',
    'RELATED,ESTABLISHED',
    '-j',
    'ACCEPT',
  ]);
  assert.equal(splitRule('-D POSTROUTING -s 172.18.0.0/16 ! -o br-0123456789ab -m comment --comment "a \\"quoted\\" note" -j MASQUERADE'), [
    '-D',
    'POSTROUTING',
    '-s',
    '172.18.0.0/16',
    '!',
    '-o',
    'br-0123456789ab',
    '-m',
    'comment',
    '--comment',
    'a "quoted" note',
    '-j',
    'MASQUERADE',
  ]);
});

rules.run();

const etcd = suite('kind: the etcd fixture of ci/02-etcd3-values.yaml');

etcd("its members answer at exactly the hosts the values file names, from kind's own etcd image, never pulled", () => {
  const hosts: string[] = parse(readFileSync(join(chartDir, 'ci', '02-etcd3-values.yaml'), 'utf8')).patroni.dcs.etcd3.hosts;
  const [svc, sts] = (etcdFixture('e2e-02-etcd3', hosts.length) as any).items;
  const c = sts.spec.template.spec.containers[0];
  const advertised = Array.from({ length: sts.spec.replicas }, (_, i) =>
    c.args
      .find((a: string) => a.startsWith('--advertise-client-urls='))
      .split('=')[1]
      .replace('$(NAME)', `${sts.metadata.name}-${i}`)
      .replace('http://', ''),
  );
  assert.equal(advertised, hosts);
  assert.is(svc.metadata.name, sts.spec.serviceName);
  assert.is(svc.spec.clusterIP, 'None');
  assert.ok(svc.spec.publishNotReadyAddresses, 'peers resolve each other before they are ready');
  assert.is(sts.spec.podManagementPolicy, 'Parallel');
  assert.is(c.image, ETCD_IMAGE);
  assert.is(c.imagePullPolicy, 'Never');
});

etcd.run();
