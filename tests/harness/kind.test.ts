// Tier 3's host-side helpers that need no Docker: how dockerd's leftover firewall rules are read back for deletion.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { splitRule } from '../../scripts/lib/kind/docker.ts';

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
