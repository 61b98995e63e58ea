// BIRD's own words -> the status block, from output captured from BIRD 2.0.12.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bgpStatus } from '../../agent/bgp/bird-status.js';

const PROTOCOLS = `BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     13:44:46.630
ha_alive   Direct     ---        up     13:44:54.092
ha_bfd     BFD        ---        up     13:44:46.630
ha_vips4   Static     master4    up     13:44:46.630
peer_10_51_0_1 BGP        ---        up     13:44:50.644  Established
peer_10_52_0_1 BGP        ---        start  13:44:50.644  Active        Socket: Connection refused
peer_fd00_51__1 BGP        ---        start  13:44:50.644  Idle
`;
const BFD = `BIRD 2.0.12 ready.
ha_bfd:
IP address                Interface  State      Since         Interval  Timeout
10.51.0.1                 eth0       Up         13:44:47.380    0.100    0.300
10.52.0.1                 eth1       Down       13:44:47.380    1.000    0.000
`;
const PEERS = [{ address: '10.51.0.1', bfd: true }, { address: '10.52.0.1', bfd: true }, { address: 'fd00:51::1', bfd: false }];

test('peer and BFD states as BIRD reports them', () => {
  assert.deepEqual(bgpStatus(PEERS, PROTOCOLS, BFD, ['10.60.0.100/32'], false), {
    state: 'established',
    peers: [
      { address: '10.51.0.1', state: 'established', bfd: 'up' },
      { address: '10.52.0.1', state: 'connecting', bfd: 'down' },
      { address: 'fd00:51::1', state: 'down', bfd: 'disabled' },
    ],
    announced: ['10.60.0.100/32'],
  });
});

const STATES: { name: string; protocols: string; drained: boolean; want: string }[] = [
  { name: 'drained wins', protocols: PROTOCOLS, drained: true, want: 'drained' },
  { name: 'only connecting', protocols: PROTOCOLS.replace('Established', 'OpenSent'), drained: false, want: 'connecting' },
  { name: 'BIRD not answering', protocols: '', drained: false, want: 'down' },
];
for (const c of STATES) {
  test(`overall state: ${c.name}`, () => assert.equal(bgpStatus(PEERS, c.protocols, '', [], c.drained).state, c.want));
}
