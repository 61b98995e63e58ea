// New TCP connections per second through one LB namespace with the agent's own rules, against
// plain routing through the same LB (the floor): wrk with `Connection: close` in the client
// namespace, HAProxy answering in the backend namespace, both drivers at 1 and at 1000 farms,
// IPv4 and IPv6. The tested farm is the last of the 1000 (worst place for a linear dispatch).
// Beside them, one farm in mode dsr, both drivers: the packet routed by its mark to b1 unchanged,
// untracked, the VIP on b1's lo. b1's gateway is the LB (the lab's one topology), so its replies
// cross the LB too, plain-routed and untracked, where in production they would bypass it: the
// dsr figure is the LB's forward path plus a routed return, the same return the floor has.
// Runs interleave the cases and repeat; medians are recorded, with the machine's softirq time
// per connection (all namespaces share the CPUs, so it is the machine's, not the LB's alone)
// and the load average before the run (the machine is shared).

import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab, singleLbTopology, backendIp, CLIENT_IP, type Lab } from '../test/netns/topology.js';
import { addIPv6, backendIp6, CLIENT6 } from '../test/datapath/lab6.js';
import { labNetfilter, type DriverName } from '../test/datapath/drivers.js';
import { desiredState } from '../test/support/config.js';
import { NsRunner } from '../test/support/ns-runner.js';
import type { Netfilter } from '../agent/apply/netfilter.js';
import { RoutedNetfilter } from '../agent/apply/route-netfilter.js';
import { recordResult } from './results.js';

const SECONDS = Number(process.env.DATAPATH_SECONDS ?? 5);
const REPEATS = Number(process.env.DATAPATH_REPEATS ?? 3);
const CONNECTIONS = 64;

type Family = 'ipv4' | 'ipv6';
type Mode = 'dnat' | 'dsr';
interface Case { readonly family: Family; readonly driver: DriverName | 'floor'; readonly farms: number; readonly mode: Mode }

const vip = (family: Family, i: number): string =>
  (family === 'ipv4' ? `10.9.${Math.floor(i / 250)}.${1 + (i % 250)}` : `fd00:9::${(0x1000 + i).toString(16)}`);

/** The dsr farm's VIP: apart from the dnat VIPs, in the range the client routes to the LB. */
const DSR_VIP: Readonly<Record<Family, string>> = { ipv4: '10.9.200.1', ipv6: 'fd00:9::d5' };

function dsrYaml(family: Family): string {
  const backend = family === 'ipv4' ? backendIp(1) : `"${backendIp6(1)}"`;
  return `node: { id: lb1 }\nfarms:\n  - { name: d0, vip: "${DSR_VIP[family]}", ports: [8080], mode: dsr, algorithm: hash-5tuple, check: { type: none }, backends: [{ name: b1, ip: ${backend} }] }\n`;
}

const caseName = (c: Case): string => (c.driver === 'floor' ? `${c.family} floor`
  : c.mode === 'dsr' ? `${c.family} ${c.driver} dsr` : `${c.family} ${c.driver} ${c.farms} farm${c.farms > 1 ? 's' : ''}`);

function farmsYaml(family: Family, n: number): string {
  const backend = family === 'ipv4' ? backendIp(1) : `"${backendIp6(1)}"`;
  const farms = Array.from({ length: n }, (_, i) => `  - { name: f${i}, vip: "${vip(family, i)}", ports: [8080], check: { type: none }, backends: [{ name: b1, ip: ${backend}, port: 8080 }] }`);
  return `node: { id: lb1 }\nfarms:\n${farms.join('\n')}\n`;
}

const HAPROXY = `global
  maxconn 8000
defaults
  mode http
  timeout client 5s
  timeout server 5s
  timeout connect 1s
frontend answer
  bind :::8080 v4v6
  http-request return status 200 content-type text/plain string ok
`;

/** Softirq and total jiffies of the whole machine, from /proc/stat. */
function cpuJiffies(): { softirq: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { softirq: fields[6]!, total: fields.reduce((a, b) => a + b, 0) };
}

async function wrk(lab: Lab, target: string): Promise<number> {
  const r = await lab.exec('client', 'wrk', ['-t2', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '-H', 'Connection: close', `http://${target}:8080/`], { timeoutMs: (SECONDS + 30) * 1000 });
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!rate) throw new Error(`wrk printed no rate:\n${r.stdout}${r.stderr}`);
  return Number(rate[1]);
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const lab = await createLab(singleLbTopology({ backends: 1, mode: 'dnat' }));
  const results: Record<string, { rates: number[]; softirqUsPerConn: number[]; load1: number[] }> = {};
  try {
    await addIPv6(lab, { backends: 1 });
    await lab.exec('client', 'ip', ['-6', 'route', 'replace', 'fd00:9::/64', 'via', 'fd00:1::1']);
    for (const [key, value] of [['net.ipv4.tcp_tw_reuse', '1'], ['net.ipv4.ip_local_port_range', '1024 65535']]) await lab.exec('client', 'sysctl', ['-qw', `${key}=${value}`]);
    // TIME_WAIT entries of a few seconds, so the table never fills over the runs.
    await lab.exec('lb1', 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait=2']).catch(() => undefined);
    const dir = mkdtempSync(join(tmpdir(), 'ha-bench-'));
    writeFileSync(join(dir, 'haproxy.cfg'), HAPROXY);
    const haproxy = lab.spawn('b1', 'haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')]);
    await new Promise((r) => setTimeout(r, 1000));
    if (haproxy.exited) throw new Error(`haproxy stopped: ${haproxy.stderrLines.join('\n')}`);
    // dsr: b1 holds the VIP on lo (HAProxy's wildcard bind answers on it) and keeps it off the
    // wire; the LB has no address for it, only a route back towards the client for a packet no
    // mark routes (none, while the farm is up).
    await lab.exec('b1', 'ip', ['addr', 'add', `${DSR_VIP.ipv4}/32`, 'dev', 'lo']);
    await lab.exec('b1', 'ip', ['-6', 'addr', 'add', `${DSR_VIP.ipv6}/128`, 'dev', 'lo']);
    await lab.exec('b1', 'sysctl', ['-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
    await lab.exec('lb1', 'ip', ['route', 'add', `${DSR_VIP.ipv4}/32`, 'via', CLIENT_IP]);
    await lab.exec('lb1', 'ip', ['-6', 'route', 'add', `${DSR_VIP.ipv6}/128`, 'via', CLIENT6]);
    // The routing half of dsr around either driver, as the daemon builds it.
    const drivers: Record<DriverName, Netfilter> = {
      iptables: new RoutedNetfilter(labNetfilter(lab, 'lb1', 'iptables'), new NsRunner(lab.nsName('lb1'))),
      nftables: new RoutedNetfilter(labNetfilter(lab, 'lb1', 'nftables'), new NsRunner(lab.nsName('lb1'))),
    };
    for (const n of Object.values(drivers)) await n.adopt();
    const cases: Case[] = [];
    for (const family of ['ipv4', 'ipv6'] as const) {
      cases.push({ family, driver: 'floor', farms: 0, mode: 'dnat' });
      for (const driver of ['iptables', 'nftables'] as const) {
        for (const farms of [1, 1000]) cases.push({ family, driver, farms, mode: 'dnat' });
        cases.push({ family, driver, farms: 1, mode: 'dsr' });
      }
    }
    // DATAPATH_ONLY=floor (or any part of a case's name, e.g. dsr) runs a subset, for looking into one.
    const only = process.env.DATAPATH_ONLY;
    if (only) cases.splice(0, cases.length, ...cases.filter((c) => `${caseName(c)} ${c.farms}`.includes(only)));
    const states = new Map<string, ReturnType<typeof desiredState>>();
    for (const family of ['ipv4', 'ipv6'] as const) {
      for (const n of [1, 1000]) states.set(`${family}/${n}`, desiredState(farmsYaml(family, n)));
      states.set(`${family}/dsr`, desiredState(dsrYaml(family)));
    }
    // Warm-up: the first run of a fresh lab is slower (ARP/ND, caches).
    await wrk(lab, backendIp(1));
    for (let rep = 0; rep < REPEATS; rep++) {
      for (const c of cases) {
        const name = caseName(c);
        for (const n of Object.values(drivers)) await n.removeAll();
        if (c.driver !== 'floor') await drivers[c.driver].sync(states.get(`${c.family}/${c.mode === 'dsr' ? 'dsr' : c.farms}`)!);
        await lab.exec('lb1', 'conntrack', ['-F']).catch(() => undefined);
        const address = c.driver === 'floor' ? (c.family === 'ipv4' ? backendIp(1) : backendIp6(1))
          : c.mode === 'dsr' ? DSR_VIP[c.family] : vip(c.family, c.farms - 1);
        const target = c.family === 'ipv4' ? address : `[${address}]`;
        const load1 = loadavg()[0]!;
        const before = cpuJiffies();
        const rate = await wrk(lab, target);
        const after = cpuJiffies();
        const softirqSeconds = (after.softirq - before.softirq) / 100;
        const entry = (results[name] ??= { rates: [], softirqUsPerConn: [], load1: [] });
        entry.rates.push(Math.round(rate));
        entry.softirqUsPerConn.push(Math.round((softirqSeconds * 1e6) / Math.max(1, rate * SECONDS)));
        entry.load1.push(Number(load1.toFixed(2)));
        console.log(`${name}: ${Math.round(rate)} conn/s, softirq ${entry.softirqUsPerConn.at(-1)} us/conn, load ${load1.toFixed(2)}`);
      }
    }
    for (const n of Object.values(drivers)) await n.removeAll();
  } finally {
    await lab.destroy();
  }
  const medians = Object.fromEntries(Object.entries(results).map(([name, r]) => [name, { conn_per_s: median(r.rates), softirq_us_per_conn: median(r.softirqUsPerConn), runs: r.rates, load1: r.load1 }]));
  const ratios: Record<string, number> = {};
  // Only the ratios of the cases that ran (DATAPATH_ONLY runs a subset); `b` is named after the
  // slash without the driver it shares with `a` ("ipv4 nftables dsr / 1 farm").
  const ratio = (family: string, a: string, b: string) => {
    const [x, y] = [medians[`${family} ${a}`], medians[`${family} ${b}`]];
    if (x && y) ratios[`${family} ${a} / ${b.startsWith(a.split(' ')[0]!) ? b.split(' ').slice(1).join(' ') : b}`] = Number((x.conn_per_s / y.conn_per_s).toFixed(3));
  };
  for (const family of ['ipv4', 'ipv6']) {
    for (const driver of ['iptables', 'nftables']) {
      ratio(family, `${driver} 1 farm`, 'floor');
      ratio(family, `${driver} 1000 farms`, 'floor');
      ratio(family, `${driver} 1000 farms`, `${driver} 1 farm`);
      ratio(family, `${driver} dsr`, 'floor');
      ratio(family, `${driver} dsr`, `${driver} 1 farm`);
    }
  }
  recordResult('datapath', {
    seconds: SECONDS, repeats: REPEATS, connections: CONNECTIONS,
    note: 'new TCP connections/s (wrk, Connection: close) through one LB namespace to HAProxy; medians of interleaved runs; softirq is the whole machine\'s per connection; load1 is the load average before each run (the 2 cores are shared); '
      + 'dsr: one farm in mode dsr (routed by mark, untracked, the VIP on b1\'s lo); b1\'s gateway is the LB, so its replies cross the LB plain-routed (in production they bypass it), as the floor\'s do',
    medians, ratios,
  });
  console.log(JSON.stringify(ratios, null, 2));
}

await main();
