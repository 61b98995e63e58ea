// Golden files of dsr and tunnel farms for both drivers and their routing part, each also checked
// by the real tool: iptables-restore --test, nft -c -f, and `ip -batch` in a scratch namespace for
// the dsr routes (tunnel routes need a kernel with ipip / ip6_tunnel).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { renderIptables } from '../../agent/render/iptables.js';
import { renderNft } from '../../agent/render/nftables.js';
import { formatRouteBlock } from '../../agent/apply/route-netfilter.js';
import { planRoutes } from '../../agent/route/plan.js';
import { desiredState } from '../support/config.js';
import { assertGolden, repoPath } from '../support/repo.js';
import { needsRoot } from '../support/root.js';
import { FORWARDING_CASES } from './cases.js';

const desired = (c: (typeof FORWARDING_CASES)[number]) => desiredState(c.yaml, c.down);

for (const c of FORWARDING_CASES) {
  test(`golden: ${c.name}`, () => {
    const { ipv4, ipv6, ipsets } = renderIptables(desired(c));
    assertGolden(`test/golden/iptables/${c.name}.rules`, ipv4);
    if (ipv6 !== undefined) assertGolden(`test/golden/iptables/${c.name}.rules6`, ipv6);
    assertGolden(`test/golden/iptables/${c.name}.ipset`, ipsets);
    assertGolden(`test/golden/nftables/${c.name}.nft`, renderNft(desired(c)));
    assertGolden(`test/golden/routes/${c.name}.batch`, formatRouteBlock(planRoutes(desired(c))));
  });
}

test('dsr/tunnel golden files pass iptables-restore --test, nft -c -f, and the dsr routes ip -batch', needsRoot(), () => {
  const ns = `hafwd${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  const inNs = (args: string[], input?: string) => execFileSync('ip', ['netns', 'exec', ns, ...args], { input, stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    // On-link networks for the dsr next hops.
    inNs(['ip', 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    inNs(['ip', 'link', 'set', 'v0', 'up']);
    inNs(['ip', 'addr', 'add', '10.2.0.1/24', 'dev', 'v0']);
    inNs(['ip', '-6', 'addr', 'add', 'fd00:2::1/64', 'dev', 'v0', 'nodad']);
    for (const c of FORWARDING_CASES) {
      inNs(['ipset', 'restore', '-exist', '-file', repoPath(`test/golden/iptables/${c.name}.ipset`)]);
      inNs(['iptables-restore', '--test', '--noflush', repoPath(`test/golden/iptables/${c.name}.rules`)]);
      const { ipv6 } = renderIptables(desired(c));
      if (ipv6 !== undefined) inNs(['ip6tables-restore', '--test', '--noflush', repoPath(`test/golden/iptables/${c.name}.rules6`)]);
      execFileSync('nft', ['-c', '-f', repoPath(`test/golden/nftables/${c.name}.nft`)], { stdio: ['ignore', 'ignore', 'pipe'] });
      const routes = planRoutes(desired(c));
      for (const family of ['ipv4', 'ipv6'] as const) {
        if (routes[family].tunnel) continue;
        // The block's lines, uncommented, are the batch the agent runs for a kernel without them.
        const block = formatRouteBlock({ ipv4: family === 'ipv4' ? routes.ipv4 : { rules: new Map(), routes: new Map(), tunnel: false }, ipv6: family === 'ipv6' ? routes.ipv6 : { rules: new Map(), routes: new Map(), tunnel: false } });
        const lines = block.split('\n').filter((l) => l.startsWith('#   ')).map((l) => l.slice(4));
        if (lines.length === 0) continue;
        inNs(['ip', ...(family === 'ipv6' ? ['-6'] : []), '-batch', '-'], `${lines.join('\n')}\n`);
        const tables = inNs(['ip', ...(family === 'ipv6' ? ['-6'] : []), 'rule', 'show', 'pref', '3100']).toString();
        assert.equal(tables.trim().split('\n').length, routes[family].rules.size);
        inNs(['ip', ...(family === 'ipv6' ? ['-6'] : []), '-force', '-batch', '-'], `${lines.filter((l) => l.startsWith('rule')).map((l) => l.replace('rule add', 'rule del')).join('\n')}\n`);
      }
    }
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
});
