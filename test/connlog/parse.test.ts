// NFLOG reader lines -> connection records: IPv4 and IPv6 headers, ports, what is not the agent's.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNflogLine } from '../../agent/connlog/parse.js';
import { countLive } from '../../agent/apply/conntrack.js';

// A SYN from 10.1.0.2:40000 to 10.1.0.100:8080 (IPv4 header of 20 bytes, then TCP ports).
const v4 = '45000034000040004006000' + '00a0100020a010064' + '9c401f90';
// A SYN from fd00:1::2:40000 to fd00:1::100:80.
const v6 = '6000000000140640' + 'fd000001000000000000000000000002' + 'fd000001000000000000000000000100' + '9c400050';

test('an IPv4 TCP line: farm from the prefix, mark, addresses and ports', () => {
  assert.deepEqual(parseNflogLine(`2 8219 ha-agent:web ${v4}`), {
    farm: 'web', mark: 8219, protocol: 'tcp', src: '10.1.0.2', sport: 40000, dst: '10.1.0.100', dport: 8080,
  });
});

test('an IPv6 TCP line, addresses in their short form', () => {
  assert.deepEqual(parseNflogLine(`10 700 ha-agent:web6 ${v6}`), {
    farm: 'web6', mark: 700, protocol: 'tcp', src: 'fd00:1::2', sport: 40000, dst: 'fd00:1::100', dport: 80,
  });
});

test('lines that are not the agent\'s, or too short, give nothing', () => {
  assert.equal(parseNflogLine(`2 1 other:web ${v4}`), undefined);
  assert.equal(parseNflogLine('# lost'), undefined);
  assert.equal(parseNflogLine('2 1 ha-agent:web 4500'), undefined);
});

test('conntrack listing: TCP counts only while ESTABLISHED, other protocols always', () => {
  const text = [
    'tcp      6 431999 ESTABLISHED src=10.1.0.2 dst=10.1.0.100 sport=1 dport=80 src=10.2.0.11 dst=10.1.0.2 sport=80 dport=1 [ASSURED] mark=8219 use=1',
    'tcp      6 119 TIME_WAIT src=10.1.0.2 dst=10.1.0.100 sport=2 dport=80 src=10.2.0.11 dst=10.1.0.2 sport=80 dport=2 [ASSURED] mark=8219 use=1',
    'udp      17 29 src=10.1.0.2 dst=10.1.0.100 sport=3 dport=53 src=10.2.0.11 dst=10.1.0.2 sport=53 dport=3 mark=8219 use=1',
    '',
  ].join('\n');
  assert.equal(countLive(text), 2);
});
