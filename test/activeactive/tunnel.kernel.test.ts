// Three LBs behind ECMP in tunnel mode (IPIP to the backends) with hash-5tuple: the LB made
// silent on both drivers, as for dsr; the other cases are dsr's, which tunnel shares but for
// the last hop. Tunnel traffic needs the kernel's IPIP (CONFIG_NET_IPIP), which some kernels,
// CI's among them, are built without. The kernel is asked once, as the agent asks it; without
// IPIP the suite asserts what the agent owes such a kernel instead: it refuses the tunnel farm
// at start-up, naming IPIP, and leaves nothing routed or announced. Either branch can fail.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { createLab, withLab } from '../netns/topology.js';
import { agentDir, spawnAgent } from '../support/agent.js';
import { needsProgram, needsRoot } from '../support/root.js';
import { ActiveActive, LB_ADDR } from './topology.js';
import { FARMS, aaConfig } from './config.js';
import { silentCases } from './cases.js';

type Ipip = { readonly supported: true } | { readonly supported: false; readonly reason: string };

/** Whether this kernel makes an IPIP device, asked in a scratch namespace; throws when it cannot tell. */
async function ipipSupport(): Promise<Ipip> {
  // A kernel that has it as a module not loaded yet would load it on `ip link add`; this says so sooner.
  await execa('modprobe', ['-q', 'ipip'], { reject: false });
  return withLab({ bridges: [], hosts: [{ name: 'probe', links: [] }] }, async (lab): Promise<Ipip> => {
    const r = await lab.exec('probe', 'ip', ['link', 'add', 'haat-ipip', 'type', 'ipip'], { reject: false });
    if (!r.failed) return { supported: true };
    if (/Unknown device type/i.test(r.stderr)) return { supported: false, reason: `"ip link add type ipip" says ${r.stderr.trim().replace(/^Error:\s*/, '')}` };
    throw new Error(`cannot tell whether this kernel has IPIP: ${r.command}: ${r.stderr.trim()}`);
  });
}

// Without root the suites below skip (or fail, in CI) as every kernel suite does; nothing to ask.
const ipip = needsRoot().skip === undefined ? await ipipSupport() : { supported: true } as const;

if (ipip.supported) {
  for (const driver of ['iptables', 'nftables'] as const) {
    describe(`active-active, tunnel + hash-5tuple, ${driver}: LB silent`, { ...needsRoot(), ...needsProgram('bird'), timeout: 120_000 }, () => {
      let aa: ActiveActive;
      before(async () => {
        aa = await ActiveActive.create({ driver, farms: [FARMS.tunnel] });
      });
      after(async () => {
        await aa?.destroy();
      });
      silentCases(() => aa, FARMS.tunnel, `tunnel/${driver}`);
    });
  }
} else {
  process.stdout.write(`# tunnel traffic NOT tested: this kernel has no IPIP (CONFIG_NET_IPIP; ${ipip.reason}); asserting the agent's refusal of a tunnel farm instead\n`);
  for (const driver of ['iptables', 'nftables'] as const) {
    describe(`active-active, tunnel + hash-5tuple, ${driver}: a kernel without IPIP`, { ...needsRoot(), ...needsProgram('bird'), timeout: 60_000 }, () => {
      it('the agent refuses the tunnel farm at start-up, naming mode tunnel and IPIP, and leaves nothing routed or running', async () => {
        const lab = await createLab({ bridges: ['core'], hosts: [{ name: 'lb1', links: [{ bridge: 'core', address: `${LB_ADDR.lb1}/24` }], forwarding: true }] });
        const dir = agentDir('ha-aa-tunnel-');
        try {
          dir.write(aaConfig(dir, 'lb1', { driver, farms: [FARMS.tunnel], backends: 3 }));
          const agent = spawnAgent(lab, 'lb1', dir.configPath);
          const exit = await agent.wait(20_000);
          const said = agent.stderrLines.join('\n');
          assert.equal(exit.exitCode, 1, `the agent did not refuse to start: ${JSON.stringify(exit)}; stderr: ${said}`);
          assert.match(said, /refusing farm tunnel \(mode tunnel\): .*\bIPIP\b/, 'the refusal names the farm, its mode and IPIP');
          // Refused before anything was applied: no rule routes a marked packet, no BIRD announces the VIP.
          const rules = await lab.exec('lb1', 'ip', ['rule', 'show']);
          assert.doesNotMatch(rules.stdout, /fwmark/, `rules left behind: ${rules.stdout}`);
          const pids = await execa('ip', ['netns', 'pids', lab.nsName('lb1')]);
          assert.equal(pids.stdout.trim(), '', 'processes left running in the LB namespace');
        } finally {
          await lab.destroy();
          dir.remove();
        }
      });
    });
  }
}
