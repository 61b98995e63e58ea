// Which objects of the agent's nft tables an event names, for a repair of only them; anything
// else (a table, iptables chains, a change whose object is unknown) asks for the full repair.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { agentScope, changedObjects } from '../../agent/apply/nft-concern.js';
import type { NftEvent } from '../../agent/apply/nft-events.js';

const nft = agentScope('nftables');
const rule = (kind: 'add' | 'delete', chain: string, family = 'ip'): NftEvent => ({ kind, verb: kind, object: 'rule', family, table: 'ha_agent', chain, handle: 4 });
const chain = (kind: 'add' | 'delete', name: string): NftEvent => ({ kind, verb: kind, object: 'chain', family: 'ip', table: 'ha_agent', chain: name });
const element = (kind: 'add' | 'delete', map: string): NftEvent => ({ kind, verb: kind, object: 'element', family: 'ip', table: 'ha_agent', name: map });
const set = (kind: 'add' | 'delete', name: string): NftEvent => ({ kind, verb: kind, object: 'set', family: 'ip', table: 'ha_agent', name });
const reasons = (events: readonly NftEvent[]) => events.map(() => 'a reason');

describe('changedObjects', () => {
  const cases: { name: string; events: NftEvent[]; extra?: string[]; want: unknown }[] = [
    { name: 'rules of one chain: the chain, once', events: [rule('delete', 'farm_web'), rule('add', 'farm_web')], want: [{ family: 'ip', kind: 'chain', name: 'farm_web', deleted: false }] },
    { name: 'the ip6 table is its own family', events: [rule('delete', 'farm_web', 'ip6')], want: [{ family: 'ip6', kind: 'chain', name: 'farm_web', deleted: false }] },
    {
      name: 'a flushed and deleted chain, elements of a map',
      events: [rule('delete', 'farm_old'), chain('delete', 'farm_old'), element('delete', 'farms')],
      want: [{ family: 'ip', kind: 'chain', name: 'farm_old', deleted: true }, { family: 'ip', kind: 'set', name: 'farms', deleted: false }],
    },
    { name: 'deleted and added again: there', events: [set('delete', 'marks'), set('add', 'marks'), element('add', 'marks')], want: [{ family: 'ip', kind: 'set', name: 'marks', deleted: false }] },
    { name: 'the table: everything', events: [{ kind: 'delete', verb: 'delete', object: 'table', family: 'ip', table: 'ha_agent' }], want: null },
    { name: 'a change whose object is unknown: everything', events: [rule('delete', 'farm_web')], extra: ['1 change(s) nft printed unreadably'], want: null },
    { name: 'no event: everything', events: [], extra: ['a change nft did not print (an interval map element?)'], want: null },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(changedObjects(nft, c.events, [...reasons(c.events), ...(c.extra ?? [])]), c.want));
  }

  it('the iptables scope never names objects: its repair reads the rules back', () => {
    const ev: NftEvent = { kind: 'delete', verb: 'delete', object: 'rule', family: 'ip', table: 'mangle', chain: 'HAGENT-PRE', handle: 3 };
    assert.equal(changedObjects(agentScope('iptables'), [ev], ['x']), null);
  });
});
