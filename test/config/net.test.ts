// Address, port and URL helpers, table-driven.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatPortRange, hostPortError, ipv4ToInt, isIPv4, isIPv4Cidr, isIPv6, isInterfaceName, normalisePorts, parseListen, parsePort, parsePortEntry,
  portsInBoth, rangesOverlap, redactUrl, redisUrlError, type PortRange,
} from '../../config/net.js';

const table = <I, O>(name: string, fn: (input: I) => O, rows: readonly (readonly [I, O])[]) => {
  for (const [input, want] of rows) {
    test(`${name}(${JSON.stringify(input)}) -> ${JSON.stringify(want)}`, () => assert.deepEqual(fn(input), want));
  }
};

table('isIPv4', isIPv4, [
  ['192.168.1.10', true], ['0.0.0.0', true], ['255.255.255.255', true],
  ['10.0.0.300', false], ['10.0.0', false], ['10.0.0.1.2', false], ['010.0.0.1', false], ['10.0.0.1 ', false], ['', false], ['::1', false],
]);

table('isIPv6', isIPv6, [
  ['::1', true], ['fd00::1:2', true], ['::ffff:10.0.0.1', true],
  ['1:::2', false], ['fd00::g', false], ['10.0.0.1', false], ['[::1]', false], ['', false],
]);

table('isIPv4Cidr', isIPv4Cidr, [
  ['192.168.1.1/24', true], ['10.0.0.0/0', true], ['10.0.0.1/32', true],
  ['10.0.0.1/33', false], ['10.0.0.1', false], ['10.0.0.1/24/1', false], ['10.0.0.300/24', false],
]);

table('ipv4ToInt', ipv4ToInt, [['0.0.0.1', 1], ['10.0.0.1', 0x0a000001], ['255.255.255.255', 0xffffffff]]);

table('isInterfaceName', isInterfaceName, [['eth0', true], ['bond0.100', true], ['veth-lb1@if2', true], ['eth 0', false], ['a/b', false], ['x'.repeat(16), false], ['', false]]);

table('parsePort', parsePort, [
  [443, 443], [1, 1], [65535, 65535],
  [0, 'port 0 is outside 1-65535'], [65536, 'port 65536 is outside 1-65535'], [80.5, '80.5 is not a whole port number'],
  ['443', 'expected a port number 1-65535, got "443"'],
]);

table<unknown, PortRange | string>('parsePortEntry', parsePortEntry, [
  [443, { from: 443, to: 443 }], ['443', { from: 443, to: 443 }], ['8000-8010', { from: 8000, to: 8010 }],
  [' 8000 - 8010 ', { from: 8000, to: 8010 }], ['80-80', { from: 80, to: 80 }],
  ['8010-8000', 'range "8010-8000" is inverted; write it as "8000-8010"'],
  ['0-10', 'port 0 is outside 1-65535'], ['65000-70000', 'port 70000 is outside 1-65535'],
  ['http', '"http" is not a port or a range like "8000-8010"'], ['80,443', '"80,443" is not a port or a range like "8000-8010"'],
  [true, 'expected a port or a range like "8000-8010", got true'],
]);

const r = (from: number, to = from): PortRange => ({ from, to });

table('normalisePorts', normalisePorts, [
  [[r(443), r(80)], [r(80), r(443)]],
  [[r(80), r(80)], [r(80)]],
  [[r(70, 90), r(80), r(85, 100)], [r(70, 100)]],
  [[r(80), r(81)], [r(80), r(81)]],
  [[], []],
]);

table('portsInBoth', ([a, b]: readonly [PortRange[], PortRange[]]) => portsInBoth(a, b), [
  [[[r(8000, 8010)], [r(443), r(8005, 8020)]], [r(8005, 8010)]],
  [[[r(80)], [r(81)]], []],
  [[[r(1, 100)], [r(50), r(60), r(200)]], [r(50), r(60)]],
]);

test('rangesOverlap', () => {
  assert.equal(rangesOverlap([r(8000, 8010)], [r(8010, 8020)]), true);
  assert.equal(rangesOverlap([r(8000, 8010)], [r(8011)]), false);
});

table('formatPortRange', (x: PortRange) => [formatPortRange(x), formatPortRange(x, '-')], [[r(443), ['443', '443']], [r(8000, 8010), ['8000:8010', '8000-8010']]]);

table('hostPortError', hostPortError, [
  ['127.0.0.1:9798', undefined], ['localhost:9798', undefined], ['[::1]:9798', undefined],
  ['127.0.0.1', '"127.0.0.1" is not host:port like 127.0.0.1:9798'], ['127.0.0.1:99999', 'port 99999 is outside 1-65535'],
  ['[fd00::1:2]:26379', undefined], ['[1:::2]:9798', '"[1:::2]:9798" is not host:port like 127.0.0.1:9798'],
  ['[10.0.0.1]:9798', '"[10.0.0.1]:9798" is not host:port like 127.0.0.1:9798'],
]);

table('parseListen', parseListen, [
  ['127.0.0.1:9798', { host: '127.0.0.1', port: 9798 }], ['localhost:9798', { host: 'localhost', port: 9798 }],
  ['[::1]:26379', { host: '::1', port: 26379 }], ['[fd00::1:2]:26379', { host: 'fd00::1:2', port: 26379 }],
]);

table('redactUrl', redactUrl, [
  ['redis://:secret@h:6379/0', 'redis://:***@h:6379/0'], ['rediss://user:pw@h', 'rediss://user:***@h'], ['redis://h:6379', 'redis://h:6379'],
]);

table('redisUrlError', redisUrlError, [
  ['redis://127.0.0.1:6379/0', undefined], ['rediss://user:pw@redis.example:6380/2', undefined], ['redis://h', undefined], ['redis://h/', undefined],
  ['http://h', '"http://h" is not a redis:// or rediss:// URL; expected a URL like redis://127.0.0.1:6379/0 (rediss:// for TLS)'],
  ['redis://', '"redis://" has no host; expected a URL like redis://127.0.0.1:6379/0 (rediss:// for TLS)'],
  ['redis://:pw@h:0', '"redis://:***@h:0": port 0 is outside 1-65535'],
  ['redis://h/db1', '"redis://h/db1": the database must be a number, like /0'],
]);
