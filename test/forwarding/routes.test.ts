// The routing half of dsr/tunnel as data: planned rules and tables, the ip -batch halves around the
// netfilter transaction, reading the kernel back, and the order RoutedNetfilter runs them in.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRoutes, ROUTE_TABLE_BASE, tableOf } from '../../agent/route/plan.js';
import { compareRoutes, growLines, shrinkLines } from '../../agent/route/batch.js';
import { parseRoutes, parseRules } from '../../agent/route/observe.js';
import { RoutedNetfilter } from '../../agent/apply/route-netfilter.js';
import { FakeNetfilter } from '../../agent/apply/netfilter.fake.js';
import { FakeRunner } from '../../agent/apply/runner.fake.js';
import { desiredState } from '../support/config.js';

const yaml = (mode: string, backends: string, extra = '') => `node: { id: lb1 }
farms:
  - name: web
    vip: 10.60.0.100
    ports: [80]
    mode: ${mode}
    algorithm: hash-5tuple
    check: { type: none }
    backends:
${backends}
${extra}`;
const B = '      - { name: b1, ip: 10.2.0.11, mark: 0x300 }\n      - { name: b2, ip: 10.2.0.12, mark: 0x301 }';

test('every configured backend of a dsr farm gets a rule and a table, down or not; dnat farms none', () => {
  const routes = planRoutes(desiredState(yaml('dsr', B), ['web/b2']));
  assert.deepEqual([...routes.ipv4.rules.keys()], [
    `pref 3100 fwmark 0x300/0x3fff lookup ${ROUTE_TABLE_BASE + 0x300}`,
    `pref 3100 fwmark 0x301/0x3fff lookup ${ROUTE_TABLE_BASE + 0x301}`,
  ]);
  assert.deepEqual(routes.ipv4.routes.get(ROUTE_TABLE_BASE + 0x301), { table: ROUTE_TABLE_BASE + 0x301, via: 'gateway', address: '10.2.0.12' });
  assert.equal(routes.ipv4.tunnel, false);
  assert.equal(planRoutes(desiredState(yaml('dnat', B.replaceAll(' }', ', port: 80 }')))).ipv4.rules.size, 0);
  assert.throws(() => tableOf(0x10000), /below 0x10000/);
});

test('grow adds device, routes and rules; shrink removes rules before tables and the device last', () => {
  const tunnel = planRoutes(desiredState(yaml('tunnel', B))).ipv4;
  const empty = planRoutes(desiredState(yaml('dnat', B.replaceAll(' }', ', port: 80 }')))).ipv4;
  assert.deepEqual(growLines(empty, tunnel, 'ipv4'), [
    'link add ha-ipip type ipip external', 'link set ha-ipip up',
    `route replace default encap ip dst 10.2.0.11 dev ha-ipip table ${ROUTE_TABLE_BASE + 0x300}`,
    `route replace default encap ip dst 10.2.0.12 dev ha-ipip table ${ROUTE_TABLE_BASE + 0x301}`,
    `rule add pref 3100 fwmark 0x300/0x3fff lookup ${ROUTE_TABLE_BASE + 0x300}`,
    `rule add pref 3100 fwmark 0x301/0x3fff lookup ${ROUTE_TABLE_BASE + 0x301}`,
  ]);
  assert.deepEqual(growLines(tunnel, tunnel, 'ipv4'), []);
  assert.deepEqual(shrinkLines(tunnel, empty, 'ipv4'), [
    `rule del pref 3100 fwmark 0x300/0x3fff lookup ${ROUTE_TABLE_BASE + 0x300}`,
    `rule del pref 3100 fwmark 0x301/0x3fff lookup ${ROUTE_TABLE_BASE + 0x301}`,
    `route del default table ${ROUTE_TABLE_BASE + 0x300}`,
    `route del default table ${ROUTE_TABLE_BASE + 0x301}`,
    'link del ha-ipip',
  ]);
  // A backend that moved address keeps its mark and table: one route replaced, nothing removed.
  const moved = planRoutes(desiredState(yaml('tunnel', B.replace('10.2.0.12', '10.2.0.99')))).ipv4;
  assert.deepEqual(growLines(tunnel, moved, 'ipv4'), [`route replace default encap ip dst 10.2.0.99 dev ha-ipip table ${ROUTE_TABLE_BASE + 0x301}`]);
  assert.deepEqual(shrinkLines(tunnel, moved, 'ipv4'), []);
});

test('reading back keeps only the agent\'s preference and table range, and tells gateway from encap routes', () => {
  const t = ROUTE_TABLE_BASE + 0x300;
  const rules = parseRules(JSON.stringify([
    { priority: 0, src: 'all', table: 'local' },
    { priority: 3100, src: 'all', fwmark: '0x300', fwmask: '0x3fff', table: String(t) },
    { priority: 3100, src: 'all', fwmark: '0x5', table: '100' },
    { priority: 200, src: 'all', fwmark: '0x301', fwmask: '0x3fff', table: String(t + 1) },
  ]));
  assert.deepEqual([...rules.keys()], [`pref 3100 fwmark 0x300/0x3fff lookup ${t}`]);
  const routes = parseRoutes([
    `default via 10.2.0.11 dev eth1 table ${t}`,
    `default  encap ip id 0 src 0.0.0.0 dst 192.0.2.7 ttl 0 tos 0 dev ha-ipip table ${t + 1} scope link`,
    'default via 10.0.0.1 dev eth0 table 100',
    '10.2.0.0/24 dev eth1 proto kernel scope link src 10.2.0.1',
  ].join('\n'));
  assert.deepEqual([...routes.values()], [
    { table: t, via: 'gateway', address: '10.2.0.11' },
    { table: t + 1, via: 'tunnel', address: '192.0.2.7' },
  ]);
  const applied = planRoutes(desiredState(yaml('dsr', B))).ipv4;
  assert.deepEqual(compareRoutes(applied, { rules, routes, tunnel: false }, 'ipv4'), [
    `ip rule "pref 3100 fwmark 0x301/0x3fff lookup ${t + 1}" missing from the kernel`,
    `ip table ${t + 1}: "default encap ip dst 192.0.2.7 dev ha-ipip table ${t + 1}" in the kernel, "default via 10.2.0.12 table ${t + 1}" applied`,
  ]);
});

test('RoutedNetfilter adds routes before the netfilter transaction and removes them after', async () => {
  const order: string[] = [];
  const runner = new FakeRunner((call) => {
    if (call.args.includes('-batch')) order.push(`ip ${call.input!.trim().split('\n').map((l) => l.split(' ').slice(0, 2).join(' ')).join(', ')}`);
    if (call.args.includes('link')) return { exitCode: 1, stderr: 'Device "ha-ipip" does not exist.' };
    if (call.args.includes('rule')) return { stdout: '[]' };
    return undefined;
  });
  const inner = new FakeNetfilter('nftables');
  inner.onSync = () => order.push('netfilter');
  const routed = new RoutedNetfilter(inner, runner);
  await routed.adopt();
  await routed.sync(desiredState(yaml('dsr', B)));
  await routed.sync(desiredState(yaml('dnat', B.replaceAll(' }', ', port: 80 }'))));
  assert.deepEqual(order, [
    'ip route replace, route replace, rule add, rule add', 'netfilter',
    'netfilter', 'ip rule del, rule del, route del, route del',
  ]);
  assert.match(routed.appliedText(), /^$/);
});

test('adopting lists every table; with no rule of the agent in the kernel and no route applied, a verify does not; once a dsr farm is applied it does', async () => {
  const listed: string[] = [];
  let rulesJson = '[]';
  const runner = new FakeRunner((call) => {
    if (call.args.includes('table') && call.args.includes('all')) listed.push(call.args.join(' '));
    if (call.args.includes('link')) return { exitCode: 1, stderr: 'Device "ha-ipip" does not exist.' };
    if (call.args.includes('rule') && call.args.includes('show')) return { stdout: call.args.includes('-4') ? rulesJson : '[]' };
    return undefined;
  });
  const routed = new RoutedNetfilter(new FakeNetfilter('nftables'), runner);
  // Adopting lists every table once per family: routes a crash left behind are found.
  await routed.adopt();
  assert.deepEqual(listed, ['-4 route show table all', '-6 route show table all']);
  listed.length = 0;
  await routed.sync(desiredState(yaml('dnat', B.replaceAll(' }', ', port: 80 }'))));
  await routed.verify();
  assert.deepEqual(listed, []);

  // A rule at the agent's preference, put there by someone else: its table is read and reported.
  const t = ROUTE_TABLE_BASE + 0x300;
  rulesJson = JSON.stringify([{ priority: 3100, src: 'all', fwmark: '0x300', fwmask: '0x3fff', table: String(t) }]);
  assert.ok((await routed.verify()).differences.some((d) => d.includes(`pref 3100 fwmark 0x300/0x3fff lookup ${t}`)));
  assert.deepEqual(listed, ['-4 route show table all']);

  rulesJson = '[]';
  listed.length = 0;
  await routed.sync(desiredState(yaml('dsr', B)));
  await routed.verify();
  assert.deepEqual(listed, ['-4 route show table all']);
});
