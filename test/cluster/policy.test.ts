// Health policies and split-brain detection, as tables.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveHealth, splitBrain, type HealthPolicy, type PeerView } from '../../agent/cluster/policy.js';
import type { Health } from '../../agent/plan/plan.js';
import type { VrrpState } from '../../agent/vrrp/state.js';

const peer = (node: string, vrrp: VrrpState, health: Health): PeerView => ({ node, vrrp, health: new Map([['f/b', health]]) });

const cases: { name: string; policy: HealthPolicy; selfVrrp: VrrpState; own: Health; peers: PeerView[]; want: Health }[] = [
  { name: 'local trusts own probes', policy: 'local', selfVrrp: 'BACKUP', own: 'down', peers: [peer('lb2', 'MASTER', 'up')], want: 'down' },
  { name: 'master: BACKUP applies the MASTER view', policy: 'master', selfVrrp: 'BACKUP', own: 'up', peers: [peer('lb1', 'MASTER', 'down')], want: 'down' },
  { name: 'master: the MASTER trusts itself', policy: 'master', selfVrrp: 'MASTER', own: 'up', peers: [peer('lb2', 'BACKUP', 'down')], want: 'up' },
  { name: 'master: no live MASTER -> own', policy: 'master', selfVrrp: 'BACKUP', own: 'down', peers: [peer('lb2', 'BACKUP', 'up')], want: 'down' },
  { name: 'master: two MASTERs (split brain) -> own', policy: 'master', selfVrrp: 'BACKUP', own: 'up', peers: [peer('a', 'MASTER', 'down'), peer('b', 'MASTER', 'down')], want: 'up' },
  { name: 'quorum: 1 of 3 down stays up', policy: 'quorum', selfVrrp: 'MASTER', own: 'down', peers: [peer('a', 'BACKUP', 'up'), peer('b', 'BACKUP', 'up')], want: 'up' },
  { name: 'quorum: 2 of 3 down goes down', policy: 'quorum', selfVrrp: 'MASTER', own: 'up', peers: [peer('a', 'BACKUP', 'down'), peer('b', 'BACKUP', 'down')], want: 'down' },
  { name: 'quorum: alone, own view', policy: 'quorum', selfVrrp: 'MASTER', own: 'down', peers: [], want: 'down' },
  { name: 'quorum: 1 of 2 down is no majority', policy: 'quorum', selfVrrp: 'MASTER', own: 'down', peers: [peer('a', 'BACKUP', 'up')], want: 'up' },
  { name: 'quorum: peers unknown, own down -> down', policy: 'quorum', selfVrrp: 'MASTER', own: 'down', peers: [peer('a', 'BACKUP', 'unknown')], want: 'down' },
];

for (const c of cases) {
  test(`policy ${c.name}`, () => {
    assert.equal(effectiveHealth({ policy: c.policy, selfVrrp: c.selfVrrp, local: new Map([['f/b', c.own]]), peers: c.peers }, 'f/b'), c.want);
  });
}

test('split brain: two MASTERs of one virtual router, not of different ones', () => {
  assert.deepEqual([...splitBrain([
    { node: 'lb1', vrrp: 'MASTER', virtual_router_id: 51 },
    { node: 'lb2', vrrp: 'MASTER', virtual_router_id: 51 },
    { node: 'lb3', vrrp: 'MASTER', virtual_router_id: 52 },
    { node: 'lb4', vrrp: 'BACKUP', virtual_router_id: 52 },
  ])], [[51, ['lb1', 'lb2']]]);
});
