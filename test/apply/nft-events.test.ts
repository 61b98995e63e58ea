// The `nft -a monitor` parser and the drift filter, on output captured from the real kernel
// (nftables 1.0.6, iptables-nft 1.8.9) in a namespace. The fixtures are the captures as printed,
// except that the garbage nft prints for interval map elements is cut to 200 characters a line.
// nft-monitor.nft-table.txt: the agent's table loaded twice, elements added and deleted, a rule
// deleted, inserted, replaced, a chain flushed, a policy changed, a foreign inet table, flushes.
// nft-monitor.iptables.txt: agent-like chains by iptables-restore, -F, a chain rewritten with
// --noflush, a foreign rule inserted and deleted, Docker-like chains and jumps, -X, -P, a flush.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NftEventParser, parseEvent, type NftTransaction } from '../../agent/apply/nft-events.js';
import { DriftFilter, agentScope } from '../../agent/apply/nft-concern.js';
import { repoPath } from '../support/repo.js';

function transactions(fixture: string): NftTransaction[] {
  const parser = new NftEventParser();
  const out: NftTransaction[] = [];
  for (const line of readFileSync(repoPath('test/apply/fixtures', fixture), 'utf8').split('\n')) {
    const parsed = parser.push(line);
    if (parsed?.type === 'transaction') out.push(parsed.transaction);
  }
  return out;
}

/** generation -> [pid, process, events, unreadable] */
const summary = (txs: readonly NftTransaction[]) => txs.map((t) => [t.generation, t.pid, t.process, t.events.length, t.unreadable]);

describe('NftEventParser', () => {
  it('groups the nft table capture per transaction, closed by its generation line', () => {
    const txs = transactions('nft-monitor.nft-table.txt');
    assert.deepEqual(summary(txs), [
      [2, 11383, 'nft', 32, 0],
      [3, 11385, 'nft', 58, 0],
      [4, 11387, 'nft', 1, 0],
      [5, 11388, 'nft', 1, 0],
      // The interval element: one event over three lines (two are tab-indented continuations).
      [6, 11389, 'nft', 1, 0],
      // Deleting an interval element prints nothing but the generation.
      [7, 11391, 'nft', 0, 0],
      [8, 11397, 'nft', 1, 0],
      [9, 11402, 'nft', 1, 0],
      [10, 11404, 'nft', 2, 0],
      [11, 11406, 'nft', 2, 0],
      [12, 11407, 'nft', 1, 0],
      [13, 11409, 'nft', 2, 0],
      [14, 11410, 'nft', 1, 0],
      [15, 11411, 'nft', 1, 0],
      [16, 11414, 'nft', 1, 0],
      [17, 11419, 'nft', 1, 0],
      [18, 11420, 'nft', 12, 0],
      [19, 11422, 'nft', 16, 0],
    ]);
  });

  it('groups the iptables-nft capture: iptables-restore commits once per table, as one pid', () => {
    const txs = transactions('nft-monitor.iptables.txt');
    assert.deepEqual(summary(txs).slice(0, 4), [
      [2, 11088, 'iptables-restor', 10, 0],
      [3, 11088, 'iptables-restor', 7, 0],
      [4, 11089, 'iptables', 1, 0],
      [5, 11090, 'iptables-restor', 3, 0],
    ]);
    assert.equal(txs.length, 16);
    assert.deepEqual(txs.map((t) => t.generation), Array.from({ length: 16 }, (_, i) => i + 2));
  });

  it('reads each kind of event line', () => {
    const cases: [string, object | null][] = [
      ['delete rule ip mangle HAGENT-PRE handle 4', { kind: 'delete', verb: 'delete', object: 'rule', family: 'ip', table: 'mangle', chain: 'HAGENT-PRE', handle: 4 }],
      ['insert rule ip mangle PREROUTING counter packets 0 bytes 0 jump HAGENT-PRE # handle 9',
        { kind: 'add', verb: 'insert', object: 'rule', family: 'ip', table: 'mangle', chain: 'PREROUTING', handle: 9, rule: 'counter packets 0 bytes 0 jump HAGENT-PRE' }],
      // The `handle 14` after the chain is the insert position nft prints, not the rule's handle.
      ['add rule ip ha_agent prerouting handle 14 ct state new vmap @farm_dispatch # handle 15',
        { kind: 'add', verb: 'add', object: 'rule', family: 'ip', table: 'ha_agent', chain: 'prerouting', handle: 15, rule: 'ct state new vmap @farm_dispatch' }],
      ['add rule ip ha_agent farm_app counter packets 0 bytes 0 drop',
        { kind: 'add', verb: 'add', object: 'rule', family: 'ip', table: 'ha_agent', chain: 'farm_app', rule: 'counter packets 0 bytes 0 drop' }],
      ['create chain ip nat HAD-web # handle 2', { kind: 'add', verb: 'create', object: 'chain', family: 'ip', table: 'nat', chain: 'HAD-web', handle: 2 }],
      ['add chain ip filter FORWARD { type filter hook forward priority filter; policy drop; } # handle 3',
        { kind: 'add', verb: 'add', object: 'chain', family: 'ip', table: 'filter', chain: 'FORWARD', handle: 3 }],
      ['delete chain ip mangle HAM-web', { kind: 'delete', verb: 'delete', object: 'chain', family: 'ip', table: 'mangle', chain: 'HAM-web' }],
      ['delete table ip nat # handle 2', { kind: 'delete', verb: 'delete', object: 'table', family: 'ip', table: 'nat', handle: 2 }],
      ['add table inet docker_like # handle 4', { kind: 'add', verb: 'add', object: 'table', family: 'inet', table: 'docker_like', handle: 4 }],
      ['add map ip ha_agent mark_restore { # handle 12 type mark : verdict; } ', { kind: 'add', verb: 'add', object: 'set', family: 'ip', table: 'ha_agent', name: 'mark_restore', handle: 12 }],
      ['delete set ip ha_agent farm_dispatch', { kind: 'delete', verb: 'delete', object: 'set', family: 'ip', table: 'ha_agent', name: 'farm_dispatch' }],
      ['delete element ip ha_agent mark_restore { 0x0000020c : goto restore_app }', { kind: 'delete', verb: 'delete', object: 'element', family: 'ip', table: 'ha_agent', name: 'mark_restore' }],
      ['add ct helper ip t ftp { type "ftp" protocol tcp; l3proto ip; }', { kind: 'add', verb: 'add', object: 'object', family: 'ip', table: 't', name: 'ftp' }],
      ['rule without statements?!', null],
      ['add rule', null],
      ['add rule xx t c accept', null],
    ];
    for (const [line, want] of cases) assert.deepEqual(parseEvent(line), want, line);
  });

  it('counts unreadable and skipped lines against the open transaction, and reports lost events', () => {
    const p = new NftEventParser();
    assert.equal(p.push('something nft never printed'), null);
    p.skipped();
    assert.deepEqual(p.push('# new generation 9 by process 1 (nft)'), { type: 'transaction', transaction: { generation: 9, pid: 1, process: 'nft', events: [], unreadable: 2 } });
    assert.deepEqual(p.push('# ERROR: We lost some netlink events!'), { type: 'lost' });
    assert.deepEqual(p.push('# new generation 10'), { type: 'transaction', transaction: { generation: 10, events: [], unreadable: 0 } });
  });
});

describe('DriftFilter', () => {
  const concerned = (fixture: string, driver: 'nftables' | 'iptables') => {
    const filter = new DriftFilter(agentScope(driver));
    return transactions(fixture).filter((t) => filter.examine(t) !== null).map((t) => t.generation);
  };

  it('nft table: every change to ip ha_agent, and the unprinted one; not the foreign inet table', () => {
    assert.deepEqual(concerned('nft-monitor.nft-table.txt', 'nftables'), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 18, 19]);
  });

  it('iptables chains: agent chains and the jumps into them; not Docker-like chains, jumps or policies', () => {
    // 8-11: filter/nat DOCKER chains and a PREROUTING jump to DOCKER, 12: that jump deleted
    // (its handle is not a known agent jump), 16: FORWARD policy. 13: the jump to HAGENT-PRE deleted.
    assert.deepEqual(concerned('nft-monitor.iptables.txt', 'iptables'), [2, 3, 4, 5, 6, 7, 13, 14, 15, 17]);
  });

  it('each driver ignores the other one`s objects', () => {
    assert.deepEqual(concerned('nft-monitor.nft-table.txt', 'iptables'), []);
    assert.deepEqual(concerned('nft-monitor.iptables.txt', 'nftables'), []);
  });

  it('names what changed', () => {
    const filter = new DriftFilter(agentScope('iptables'));
    const txs = transactions('nft-monitor.iptables.txt');
    for (const t of txs.slice(0, 3)) filter.examine(t);
    assert.deepEqual(filter.examine(txs[3]!)?.reasons, [
      'delete rule ip mangle HAM-web handle 6',
      'delete rule ip mangle HAM-web handle 7',
      'add rule ip mangle HAM-web handle 10: counter packets 0 bytes 0 meta mark set mark and 0xffffff00 xor 0x12',
    ]);
  });

  it('a deleted built-in chain rule of unknown handles counts until the chain is seeded', () => {
    const deleteDockerJump = transactions('nft-monitor.iptables.txt').find((t) => t.generation === 12)!;
    assert.notEqual(new DriftFilter(agentScope('iptables')).examine(deleteDockerJump), null);
    const seeded = new DriftFilter(agentScope('iptables'));
    seeded.seedHookChain('nat', 'PREROUTING', [
      'table ip nat {',
      '\tchain PREROUTING { # handle 5',
      '\t\ttype nat hook prerouting priority dstnat; policy accept;',
      '\t\tcounter packets 0 bytes 0 jump HAGENT-DNAT # handle 6',
      '\t\tfib daddr type local counter packets 0 bytes 0 jump DOCKER # handle 8',
      '\t}',
      '}',
    ].join('\n'));
    assert.equal(seeded.examine(deleteDockerJump), null);
    assert.deepEqual(seeded.examine({ generation: 13, events: [{ kind: 'delete', verb: 'delete', object: 'rule', family: 'ip', table: 'nat', chain: 'PREROUTING', handle: 6 }], unreadable: 0 })?.reasons,
      ['delete rule ip nat PREROUTING handle 6']);
  });

  it('a transaction with unreadable lines counts, whatever it printed', () => {
    const filter = new DriftFilter(agentScope('iptables'));
    assert.deepEqual(filter.examine({ generation: 3, events: [], unreadable: 1 })?.reasons, ['1 change(s) nft printed unreadably']);
    assert.equal(filter.examine({ generation: 4, events: [], unreadable: 0 }), null);
  });
});
