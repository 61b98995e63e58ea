// A real agent starting with 2000 backends (20 farms of 100, tcp checks every second against
// loopback listeners): the backends found up change no rule, so once all are up the agent has
// applied its rules once (its start; more only for a backend that went down), not once per burst
// of verdicts; and its high-water RSS stays under the 10k-backend target with a wide margin.
// Both drivers.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createLab, waitFor, type Lab, type NsProcess } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { agentDir, agentStatus, startAgent, stopAgentEnv, type AgentDir } from '../support/agent.js';
import { repoPath } from '../support/repo.js';
import { BACKEND_PORT, backendAddress } from '../../bench/capacity-net.js';

const SIZE = 2000;
const FARM_SIZE = 100;
const HOST = 'lb';
/** The capacity target at 10k backends: five times the backends of this test. */
const HWM_LIMIT_KB = 150 * 1024;

interface StartupStatus {
  dataplane: { applies: number };
  farms: { backends: { health: string }[] }[];
}

function config(dir: AgentDir, driver: string): string {
  const lines = [dir.header(), `dataplane: { driver: ${driver} }`, 'farms:'];
  for (let f = 0; f * FARM_SIZE < SIZE; f++) {
    lines.push(`  - name: f${f}`, `    vip: 127.200.0.${f + 1}`, '    ports: [80]', '    check: { type: tcp, interval: 1s, timeout: 500ms }', '    backends:');
    for (let i = f * FARM_SIZE; i < (f + 1) * FARM_SIZE; i++) lines.push(`      - { name: b${i}, ip: ${backendAddress(i)}, port: ${BACKEND_PORT} }`);
  }
  return `${lines.join('\n')}\n`;
}

for (const driver of ['nftables', 'iptables'] as const) {
  describe(`start-up with ${SIZE} backends, ${driver} driver`, needsRoot(), () => {
    let lab: Lab;
    let dir: AgentDir;
    let agent: NsProcess;
    let servers: NsProcess;

    before(async () => {
      lab = await createLab({ bridges: [], hosts: [{ name: HOST, links: [] }] });
      servers = lab.spawn(HOST, process.execPath, [repoPath('dist/bench/capacity-server.js'), '--from', '0', '--count', String(SIZE)]);
      await servers.waitForLine('listening', 60_000);
      dir = agentDir();
      dir.write(config(dir, driver));
      agent = await startAgent(lab, HOST, dir.configPath, 'ha-agent running', 60_000);
    });
    after(async () => {
      await servers?.stop(5000);
      await stopAgentEnv({ agent, lab, dir });
    });

    it('applies its rules once while every backend comes up, and stays under the RSS target', async () => {
      const status = await waitFor(async () => {
        const s = await agentStatus<StartupStatus>(dir.socket, { timeoutMs: 20_000 });
        return s.farms.flatMap((f) => f.backends).every((b) => b.health === 'up') ? s : undefined;
      }, { timeoutMs: 90_000, intervalMs: 500, what: `all ${SIZE} backends up` });
      // A backend that flaps on a loaded machine (down, up again) is a real change: one apply each way.
      const flaps = agent.lines.filter((l) => l.includes('"to":"down"')).length;
      assert.ok(status.dataplane.applies <= 1 + 2 * flaps, `${status.dataplane.applies} applies while backends came up (${flaps} went down)`);
      const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))![1]);
      assert.ok(hwm < HWM_LIMIT_KB, `VmHWM ${Math.round(hwm / 1024)} MB at ${SIZE} backends`);
    });
  });
}
