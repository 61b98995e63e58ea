// How to read connection counts per backend mark (leastconn, max_conns) at 10k and 100k conntrack
// entries: the ways there are, timed in one namespace whose table is filled with UDP entries
// spread over three marks. Every dump is O(table) in the kernel plus O(entries printed); only
// `conntrack -C` is O(1), and it counts the whole table, not a mark.

import { execFileSync } from 'node:child_process';
import { recordResult, summarize } from './results.js';

const NS = `ha-ctcount-${process.pid}`;
const REPEATS = 5;
const ns = (cmd: string, args: string[], input?: string): string =>
  execFileSync('ip', ['netns', 'exec', NS, cmd, ...args], { input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'ignore'] }).toString();

const FILL = `import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[1])):
    s.sendto(b"x", ("127.0.%d.%d" % (i // 60000 // 250, 1 + i // 60000 % 250), 1024 + i % 60000))
`;

function time(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const OPTIONS: Record<string, () => void> = {
  'conntrack -L (whole table, counted here)': () => void ns('conntrack', ['-L']),
  'conntrack -L --mark M/mask (one mark, kernel-filtered)': () => void ns('conntrack', ['-L', '--mark', '0x200/0x3fff']),
  'conntrack -L --mark of a mark with no entry (the kernel walk alone)': () => void ns('conntrack', ['-L', '--mark', '0x3000/0x3fff']),
  'conntrack -C (whole table count, O(1), no per-mark figure)': () => void ns('conntrack', ['-C']),
  '/proc/net/nf_conntrack (whole table, text)': () => void ns('cat', ['/proc/net/nf_conntrack']),
};

execFileSync('ip', ['netns', 'add', NS]);
const results: Record<string, Record<string, ReturnType<typeof summarize>>> = {};
try {
  ns('ip', ['link', 'set', 'lo', 'up']);
  ns('sysctl', ['-qw', 'net.netfilter.nf_conntrack_udp_timeout=600']);
  ns('nft', ['-f', '-'], 'table ip t {\n chain o {\n  type filter hook output priority 0;\n  ct state new ct mark set numgen inc mod 3 offset 0x200\n }\n}\n');
  for (const entries of [10_000, 100_000]) {
    ns('conntrack', ['-F']);
    ns('python3', ['-c', FILL, String(entries)]);
    const got = Number(ns('conntrack', ['-C']).trim());
    const key = `${got} entries (3 marks)`;
    results[key] = {};
    for (const [name, run] of Object.entries(OPTIONS)) results[key]![`${name}, ms`] = summarize(Array.from({ length: REPEATS }, () => time(run)));
  }
} finally {
  execFileSync('ip', ['netns', 'del', NS]);
}
recordResult('conntrack-count', {
  note: 'wall ms per read (includes process start); the load loop reads one kernel-filtered dump per backend mark of the farms that need counts, and spaces reads to 10x their cost (at least count_interval)',
  results,
});
console.log(JSON.stringify(results, null, 2));
