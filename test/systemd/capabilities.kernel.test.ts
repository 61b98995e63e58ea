// The agent runs with exactly the capabilities the unit leaves it (CapabilityBoundingSet=, read
// from systemd/ha-agent.service; no ambient or inheritable ones; no new privileges): it applies
// its rules and a client's connections reach the backends through the VIP. Without
// CAP_NET_ADMIN it refuses to start, says so, and leaves the kernel as it was.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, singleLbTopology, labBackendsYaml, VIP, type Lab, type NsProcess } from '../netns/topology.js';
import { connReport } from '../netns/fixtures.js';
import { needsRoot } from '../support/root.js';
import { agentDir, haAgentBin, waitForChain, type AgentDir } from '../support/agent.js';
import { boundingSet, setprivCaps } from './unit-file.js';

/** setpriv as systemd would start the unit's main process: root, the bounding set, nothing else. */
const asUnit = (caps: readonly string[], configPath: string): string[] =>
  [`--bounding-set=${setprivCaps(caps)}`, '--inh-caps=-all', '--ambient-caps=-all', '--no-new-privs', '--',
    process.execPath, haAgentBin, 'run', '--config', configPath];

describe('the agent under the unit\'s capabilities', needsRoot(), () => {
  let lab: Lab;
  let dir: AgentDir;
  let agent: NsProcess | undefined;
  const servers: NsProcess[] = [];

  before(async () => {
    lab = await createLab(singleLbTopology({ backends: 2, mode: 'dnat' }));
    await lab.addAddress('lb1', 'front', `${VIP}/32`);
    for (const b of ['b1', 'b2']) servers.push(await lab.serveName(b));
    dir = agentDir();
    dir.write(`${dir.header()}farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    check: { type: tcp, interval: 200ms, timeout: 150ms, rise: 1, fall: 2 }
    backends:
${labBackendsYaml(2)}
`);
  });
  after(async () => {
    await agent?.stop(3000);
    await lab?.destroy();
    dir?.remove();
  });

  it('without CAP_NET_ADMIN it exits at once with a message naming it, and applies nothing', async () => {
    const caps = boundingSet().filter((c) => c !== 'CAP_NET_ADMIN');
    const r = await lab.exec('lb1', 'setpriv', asUnit(caps, dir.configPath), { reject: false, timeoutMs: 15_000 });
    assert.notEqual(r.exitCode, 0);
    assert.match(`${r.stderr}${r.stdout}`, /needs CAP_NET_ADMIN to change netfilter rules/);
    const rules = await lab.exec('lb1', 'iptables-save', []);
    assert.doesNotMatch(rules.stdout, /HAM-web|HAGENT/, 'the agent touched netfilter without CAP_NET_ADMIN');
  });

  it('with the unit\'s bounding set it applies the farm and the VIP carries traffic to both backends', async () => {
    agent = lab.spawn('lb1', 'setpriv', asUnit(boundingSet(), dir.configPath));
    await agent.waitForLine('ha-agent running', 15_000);
    await waitForChain(lab, 'lb1', 'web', [0, 1], 5000);
    const report = await connReport(lab, `${VIP}:80`, { count: 60, concurrency: 4 });
    assert.equal(report.failures, 0, JSON.stringify(report.errors));
    assert.deepEqual(Object.keys(report.counts).sort(), ['b1', 'b2'], `both backends answer through the VIP: ${JSON.stringify(report.counts)}`);
    const effective = await lab.exec('lb1', 'grep', ['^CapEff', `/proc/${agent.pid}/status`]);
    // CAP_CHOWN 0, CAP_SETGID 6, CAP_NET_ADMIN 12, CAP_NET_RAW 13, CAP_SYS_NICE 23.
    assert.equal(BigInt(`0x${effective.stdout.split(/\s+/)[1]}`), (1n << 0n) | (1n << 6n) | (1n << 12n) | (1n << 13n) | (1n << 23n));
  });
});
