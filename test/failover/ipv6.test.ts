// VRRP moves an IPv6 VIP between two real agents with real keepalived (VRRPv3 over IPv6
// multicast: keepalived keeps one address family per instance, and IPv6 instances cannot use
// IPv4 unicast peers): one MASTER holds the VIP and serves it; keepalived killed on lb1, lb2
// takes the VIP and serves new IPv6 connections; lb1's agent restarts keepalived and preempts.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, pairTopology, parseJsonLine, waitFor, type Lab, type NsProcess } from '../netns/topology.js';
import type { ConnReport } from '../fixtures/bin/lib/types.js';
import { agentDir, agentStatus, spawnAgent, type AgentDir } from '../support/agent.js';
import { needsRoot } from '../support/root.js';
import { addIPv6, backendIp6, VIP6 } from '../datapath/lab6.js';
import type { LbName } from './pair.js';

const FAILOVER_BOUND_MS = 1500;
const LBS: readonly LbName[] = ['lb1', 'lb2'];
const PRIORITY: Record<LbName, number> = { lb1: 150, lb2: 100 };

const config = (dir: AgentDir, lb: LbName) => `${dir.header(lb)}farms:
  - name: web6
    vip: "${VIP6}"
    ports: [8080]
    mode: snat
    snat_source: masquerade
    check: { type: tcp, interval: 500ms, timeout: 200ms, rise: 1, fall: 2 }
    backends:
      - { name: b1, ip: "${backendIp6(1)}", port: 8080 }
      - { name: b2, ip: "${backendIp6(2)}", port: 8080 }
vrrp:
  interface: front
  virtual_router_id: 61
  priority: ${PRIORITY[lb]}
  advert_int: 100ms
  keepalived: { mode: spawn }
`;

describe('IPv6 VIP failover with keepalived (netns pair, snat)', needsRoot(), () => {
  let lab: Lab;
  const dirs = { lb1: agentDir('ha-failover6-lb1-'), lb2: agentDir('ha-failover6-lb2-') };
  const agents = new Map<LbName, NsProcess>();

  const holders = async (): Promise<LbName[]> => {
    const holds = await Promise.all(LBS.map(async (lb) => (await lab.exec(lb, 'ip', ['-o', '-6', 'addr', 'show', 'dev', 'front'])).stdout.includes(` ${VIP6}/`)));
    return LBS.filter((_, i) => holds[i]);
  };
  const answers = async (): Promise<boolean> => {
    const r = await lab.execFixture('client', 'conn-client', ['--target', `${VIP6}:8080`, '--count', '1', '--timeout-ms', '300'], { reject: false });
    try {
      return parseJsonLine<ConnReport>(r.stdout).failures === 0;
    } catch {
      return false;
    }
  };
  const tracked = async (lb: LbName): Promise<number> => {
    const r = await lab.exec(lb, 'conntrack', ['-L', '-f', 'ipv6', '-p', 'tcp', '--orig-dst', VIP6], { reject: false });
    return r.stdout.split('\n').filter((l) => l.includes(`dst=${VIP6}`)).length;
  };
  /** Only `lb` holds the VIP, and a new connection to it succeeds through `lb`. */
  const servedBy = (lb: LbName, timeoutMs: number): Promise<number> => waitFor(async () => {
    const h = await holders();
    if (h.length !== 1 || h[0] !== lb) return undefined;
    const before = await tracked(lb);
    if (!(await answers())) return undefined;
    const at = Date.now();
    return (await tracked(lb)) > before ? at : undefined;
  }, { timeoutMs, intervalMs: 10, what: `the IPv6 VIP to be served by ${lb} alone` });
  const state = async (lb: LbName): Promise<string> => (await agentStatus(dirs[lb].socket, { timeoutMs: 10_000 }) as { vrrp: { state: string } }).vrrp.state;
  const keepalivedPid = (lb: LbName): number => Number(readFileSync(join(dirs[lb].dir, 'run', 'keepalived.pid'), 'utf8').trim());

  before(async () => {
    lab = await createLab(pairTopology({ backends: 2, mode: 'snat' }));
    await addIPv6(lab, { backends: 2, mode: 'snat' });
    // VRRP over IPv6 sends from the link-local address: wait until duplicate address detection is through.
    for (const lb of LBS) {
      await waitFor(async () => {
        const r = await lab.exec(lb, 'ip', ['-6', 'addr', 'show', 'dev', 'front', 'scope', 'link']);
        return r.stdout.includes('inet6 fe80') && !r.stdout.includes('tentative') ? true : undefined;
      }, { timeoutMs: 10_000, intervalMs: 100, what: `${lb}'s link-local address` });
    }
    for (let i = 1; i <= 2; i++) await lab.serveName(`b${i}`, `b${i}`, 8080, ['--host', '::']);
    for (const lb of LBS) {
      dirs[lb].write(config(dirs[lb], lb));
      const agent = spawnAgent(lab, lb, dirs[lb].configPath);
      agents.set(lb, agent);
      await agent.waitForLine('keepalived started', 15_000);
    }
  });
  after(async () => {
    await Promise.all([...agents.values()].map((a) => a.stop(8000)));
    await lab?.destroy();
    for (const lb of LBS) dirs[lb].remove();
  });

  it('one MASTER, the higher priority, holds the IPv6 VIP and serves it', async () => {
    await waitFor(async () => ((await holders()).join() === 'lb1' ? true : undefined), { timeoutMs: 15_000, intervalMs: 50, what: 'lb1 alone to hold the IPv6 VIP' })
      .catch(async (err: Error) => {
        const logs = LBS.map((lb) => `${lb}:\n${agents.get(lb)!.lines.slice(-15).join('\n')}`).join('\n');
        throw new Error(`${err.message}; holders ${(await holders()).join(',')}\n${logs}`);
      });
    await servedBy('lb1', 15_000).catch(async (err: Error) => {
      const dump = [
        await lab.exec('lb1', 'ip', ['-6', 'addr', 'show', 'dev', 'front']),
        await lab.exec('lb1', 'ip6tables-save', []),
        await lab.execFixture('client', 'conn-client', ['--target', `${VIP6}:8080`, '--count', '1', '--timeout-ms', '1000'], { reject: false }),
        await lab.exec('client', 'ip', ['-6', 'neigh']),
        await lab.exec('lb1', 'conntrack', ['-L', '-f', 'ipv6'], { reject: false }),
      ].map((r) => r.stdout + r.stderr).join('\n----\n');
      throw new Error(`${err.message}\n${dump}\n${agents.get('lb1')!.lines.slice(-10).join('\n')}`);
    });
    await waitFor(async () => ((await state('lb1')) === 'MASTER' && (await state('lb2')) === 'BACKUP' ? true : undefined),
      { timeoutMs: 10_000, intervalMs: 50, what: 'lb1 MASTER, lb2 BACKUP' });
    assert.deepEqual(await holders(), ['lb1']);
  });

  it(`SIGKILL of lb1's keepalived: lb2 takes the IPv6 VIP and serves within ${FAILOVER_BOUND_MS} ms; lb1 comes back and preempts`, async (t) => {
    const pid = keepalivedPid('lb1');
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const servedAt = await servedBy('lb2', 10_000);
    t.diagnostic(`lb2 served the IPv6 VIP ${servedAt - killedAt} ms after keepalived's SIGKILL`);
    assert.ok(servedAt - killedAt <= FAILOVER_BOUND_MS, `lb2 served ${servedAt - killedAt} ms after the kill`);
    assert.equal(await state('lb2'), 'MASTER');
    await agents.get('lb1')!.waitForLine('keepalived exited; restarting it', 5000);
    await servedBy('lb1', 15_000);
    assert.deepEqual(await holders(), ['lb1']);
  });
});
