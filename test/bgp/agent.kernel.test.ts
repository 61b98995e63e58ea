// The real agent with a `bgp` section (speaker mode spawn) in an LB namespace, peering with a
// router namespace running BIRD 2 with BFD: status and /metrics show the session and BFD up and
// the VIP announced; `ha-agent stop --withdraw` returns only once BIRD has withdrawn the VIP,
// stops the agent, and leaves BIRD running with its session up (nothing announced).
// Prints how long the withdrawing stop took.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, waitFor, type Lab, type NsProcess } from '../netns/topology.js';
import { agentDir, agentStatus, haAgentBin, startAgent, type AgentDir } from '../support/agent.js';
import { needsProgram, needsRoot } from '../support/root.js';
import { parsePrometheusText, valueOf } from '../metrics/prom-text.js';
import { BGP_VIP, createRouterLab, startRouterBird } from './router.js';

const VIP = BGP_VIP;
const METRICS = '127.0.0.1:9798';

describe('the agent announcing with BGP: status, metrics, stop --withdraw', { ...needsRoot(), ...needsProgram('bird') }, () => {
  let lab: Lab;
  let dir: AgentDir;
  let agent: NsProcess;

  const routed = async (): Promise<boolean> => (await lab.exec('router', 'ip', ['route', 'show', `${VIP}/32`])).stdout.includes(VIP);
  const metrics = async () => {
    const script = `const r = await fetch('http://${METRICS}/metrics'); if (!r.ok) process.exit(3); process.stdout.write(await r.text());`;
    const { stdout } = await lab.exec('lb', process.execPath, ['--input-type=module', '-e', script]);
    return parsePrometheusText(stdout.endsWith('\n') ? stdout : `${stdout}\n`);
  };

  before(async () => {
    lab = await createRouterLab();
    dir = agentDir('ha-agent-bgp-agent-', { metrics: METRICS });
    startRouterBird(lab, dir.dir);
    dir.write(`${dir.header('lb')}farms:
  - { name: web, vip: ${VIP}, ports: [80], algorithm: hash-5tuple, check: { type: none }, backends: [{ name: w0, ip: 10.51.0.50, port: 80 }] }
bgp: { asn: 65001, peers: [{ address: 10.51.0.1, asn: 65000 }], bfd: { interval: 100ms, multiplier: 3 } }
`);
    agent = await startAgent(lab, 'lb', dir.configPath);
  });

  after(async () => {
    await agent?.stop(3000);
    await lab?.destroy(); // also ends the BIRD the agent left running
    dir?.remove();
  });

  it('status and /metrics show the session and BFD up and the VIP announced', async () => {
    await waitFor(routed, { timeoutMs: 20_000, what: `the router's route to ${VIP}` });
    // Status reads BIRD every few seconds: the route can be there before the next read.
    await waitFor(async () => {
      const peer = (await agentStatus(dir.socket)).bgp?.peers[0];
      return peer?.state === 'established' && peer.bfd === 'up';
    }, { timeoutMs: 10_000, what: 'the session and BFD up in status' });
    const status = await agentStatus(dir.socket);
    assert.deepEqual(status.bgp, { state: 'established', peers: [{ address: '10.51.0.1', state: 'established', bfd: 'up' }], announced: [`${VIP}/32`], speaker_restarts: 0 });
    const m = await metrics();
    assert.equal(valueOf(m, 'ha_agent_bgp_session_up', { peer: '10.51.0.1' }), 1);
    assert.equal(valueOf(m, 'ha_agent_bgp_bfd_up', { peer: '10.51.0.1' }), 1);
    assert.equal(valueOf(m, 'ha_agent_bgp_state', { state: 'established' }), 1);
    assert.equal(valueOf(m, 'ha_agent_bgp_announced_prefixes'), 1);
    assert.equal(valueOf(m, 'ha_agent_bgp_drained'), 0);
  });

  it('stop --withdraw: BIRD has withdrawn the VIP when it returns; the agent is gone, BIRD and its session stay', async () => {
    assert.ok(await routed());
    const birdPid = Number(readFileSync(join(dir.dir, 'run', 'bird.pid'), 'utf8').trim());
    const t0 = performance.now();
    const r = await lab.exec('lb', process.execPath, [haAgentBin, 'stop', '--withdraw', '--config', dir.configPath], { reject: false });
    const ms = performance.now() - t0;
    process.stdout.write(`# ha-agent stop --withdraw took ${Math.round(ms)} ms; ${r.stdout.split('\n')[0]}\n`);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^drained: BIRD exports no VIP to 10\.51\.0\.1 \(after \d+ ms\)\nstopped the agent \(pid \d+\)$/);
    const exit = await agent.wait(5000);
    assert.equal(exit.exitCode, 0, 'the agent stopped cleanly');
    // BIRD sent the withdrawal before the command returned; the router applies it at once.
    const t1 = performance.now();
    while (await routed()) {
      assert.ok(performance.now() - t1 < 1000, `the router still routes ${VIP} 1 s after the stop returned`);
      await sleep(10);
    }
    // The agent's BIRD outlives it: the session stays, only the VIP is gone.
    assert.doesNotThrow(() => process.kill(birdPid, 0), 'BIRD still runs');
    const protocols = await lab.exec('router', 'birdc', ['-s', join(dir.dir, 'router.ctl'), 'show', 'protocols']);
    assert.match(protocols.stdout, /^lb\s+BGP\s+\S+\s+up\s+\S+\s+Established/m);
  });

  it('stop without an agent running: exit 1, says so', async () => {
    const r = await lab.exec('lb', process.execPath, [haAgentBin, 'stop', '--withdraw', '--config', dir.configPath], { reject: false });
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /no process listens on .*agent\.sock: the agent is not running/);
  });
});
