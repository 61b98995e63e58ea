// The native nf_tables listener against the real kernel, in a namespace (a Node child there opens
// it, since a netlink socket hears the namespace of the process that opened it): each change
// prints as `nft -a monitor` would, closed by its generation line with the writer's pid and name;
// a deleted rule carries its chain and handle; a rule's jump target is printed; a map's elements
// are one line per run; the parser and the drift filter read it all; close is by token, once.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { NftEventParser, type NftTransaction } from '../../agent/apply/nft-events.js';
import { DriftFilter, agentScope } from '../../agent/apply/nft-concern.js';
import { NFT_EVENTS_ADDON, nativeNftEvents } from '../../agent/apply/nft-native.js';
import { needsRoot } from '../support/root.js';
import { waitFor } from '../netns/poll.js';

const LISTENER = `
import { nativeNftEvents } from ${JSON.stringify(new URL('../../agent/apply/nft-native.js', import.meta.url).href)};
const { source, error } = nativeNftEvents();
if (!source) { console.error(error); process.exit(2); }
const listener = source.open((text) => process.stdout.write(text));
process.stdout.write('# ready\\n');
process.stdin.on('data', () => { listener.close(); listener.close(); process.stdout.write('# closed\\n'); });
process.stdin.resume();
`;

describe('native nf_tables listener in a real namespace', needsRoot(), () => {
  const ns = `hanative${process.pid}`;
  let child: ChildProcess;
  let out = '';
  const sh = (...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  /** Runs `fn`, then waits for the generation lines it caused; returns the lines printed meanwhile. */
  const during = async (generations: number, fn: () => void): Promise<string[]> => {
    const from = out.length;
    fn();
    await waitFor(() => (out.slice(from).match(/^# new generation /gm)?.length ?? 0) >= generations || undefined, { timeoutMs: 2000, intervalMs: 5, what: `${generations} generation lines` });
    return out.slice(from).trimEnd().split('\n');
  };

  before(async () => {
    assert.ok(existsSync(NFT_EVENTS_ADDON), `${NFT_EVENTS_ADDON} is not built (native/build.sh)`);
    execFileSync('ip', ['netns', 'add', ns]);
    child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', LISTENER], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
    await waitFor(() => out.includes('# ready\n') || undefined, { timeoutMs: 5000, intervalMs: 5, what: 'the listener' });
  });
  after(() => {
    child?.kill();
    execFileSync('ip', ['netns', 'del', ns]);
  });

  it('iptables-nft: the chain, its jump, a deleted rule by chain and handle, each with its writer', async () => {
    const lines = await during(3, () => {
      sh('iptables', '-t', 'mangle', '-N', 'HAGENT-PRE');
      sh('iptables', '-t', 'mangle', '-I', 'PREROUTING', '1', '-j', 'HAGENT-PRE');
      sh('iptables', '-t', 'mangle', '-D', 'PREROUTING', '1');
    });
    const generation = /^# new generation \d+ by process \d+ \(iptables\)$/;
    assert.equal(lines.filter((l) => generation.test(l)).length, 3, lines.join('\n'));
    assert.ok(lines.some((l) => /^add chain ip mangle HAGENT-PRE # handle \d+$/.test(l)), lines.join('\n'));
    const jump = lines.find((l) => l.startsWith('add rule ip mangle PREROUTING'));
    assert.match(jump ?? '', /^add rule ip mangle PREROUTING counter jump HAGENT-PRE # handle (\d+)$/);
    const handle = / # handle (\d+)$/.exec(jump!)![1];
    assert.ok(lines.includes(`delete rule ip mangle PREROUTING handle ${handle}`), lines.join('\n'));
  });

  it('nft: a map of many elements is one line per run; the parser and the filter read every transaction', async () => {
    const elements = Array.from({ length: 500 }, (_, i) => `10.0.${Math.floor(i / 250)}.${1 + (i % 250)} : jump c`).join(', ');
    const lines = await during(3, () => {
      sh('nft', 'add table ip ha_agent; add chain ip ha_agent c; add map ip ha_agent m { type ipv4_addr : verdict; flags interval; }');
      sh('nft', `add element ip ha_agent m { ${elements} }`);
      sh('nft', 'flush table ip ha_agent; flush map ip ha_agent m; delete table ip ha_agent');
    });
    assert.equal(lines.filter((l) => l === 'add element ip ha_agent m').length, 1, lines.join('\n'));
    const parser = new NftEventParser();
    const txs: NftTransaction[] = [];
    for (const line of lines) {
      const parsed = parser.push(line);
      if (parsed?.type === 'transaction') txs.push({ ...parsed.transaction, complete: true });
    }
    assert.deepEqual(txs.map((t) => [t.process, t.unreadable]), [['nft', 0], ['nft', 0], ['nft', 0]]);
    const filter = new DriftFilter(agentScope('nftables'));
    const reasons = txs.map((t) => filter.examine(t)?.reasons ?? []);
    assert.ok(reasons[0]!.some((r) => /^add set ip ha_agent m handle \d+$/.test(r)), reasons[0]!.join('\n'));
    assert.deepEqual(reasons[1], ['add element ip ha_agent m']);
    assert.ok(reasons[2]!.some((r) => /^delete table ip ha_agent handle \d+$/.test(r)), reasons[2]!.join('\n'));
    assert.equal(filter.examine({ ...txs[1]!, events: [] }), null, 'an empty transaction from this listener changed nothing');
  });

  it('closes by its token, once; the addon loads where it is built', async () => {
    assert.equal(typeof nativeNftEvents().source?.open, 'function');
    child.stdin!.write('close\n');
    await waitFor(() => out.endsWith('# closed\n') || undefined, { timeoutMs: 2000, intervalMs: 5, what: 'the close' });
    const from = out.length;
    sh('nft', 'add table ip after_close');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(out.slice(from), '', 'a closed listener prints nothing');
  });
});
