// The BGP liveness guard against real BIRD 2 on both ends: an LB namespace announcing a VIP to a
// router namespace (BFD 100 ms x 3). A hung agent (SIGSTOP of the process that refreshes the
// liveness prefix) withdraws the VIP by the kernel's clock alone; a recovered one announces it
// again; an empty include file plus `birdc configure` (what `agentctl node drain` does)
// withdraws it at once. Prints the measured times.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bgpSchema } from '../../config/bgp.js';
import { ALIVE_LIFETIME_S } from '../../agent/bgp/alive.js';
import { renderAnnounced, renderBird } from '../../agent/render/bird.js';
import { sleep, type Lab, type NsProcess } from '../netns/topology.js';
import { needsProgram, needsRoot } from '../support/root.js';
import { repoPath } from '../support/repo.js';
import { BGP_VIP, createRouterLab, startRouterBird } from './router.js';

const VIP = BGP_VIP;

describe('BGP liveness: a hung agent withdraws its VIPs', { ...needsRoot(), ...needsProgram('bird') }, () => {
  let lab: Lab;
  let dir: string;
  let child: NsProcess;
  const birds: NsProcess[] = [];

  const routed = async (): Promise<boolean> => (await lab.exec('router', 'ip', ['route', 'show', `${VIP}/32`])).stdout.includes(VIP);
  /** Milliseconds until the router's route for the VIP is `want` (present or gone), polled every 10 ms. */
  async function until(want: boolean, limitMs: number): Promise<number> {
    const t0 = performance.now();
    while (performance.now() - t0 < limitMs) {
      if ((await routed()) === want) return performance.now() - t0;
      await sleep(10);
    }
    throw new Error(`the router's route to ${VIP} is not ${want ? 'there' : 'gone'} after ${limitMs} ms`);
  }

  before(async () => {
    lab = await createRouterLab();
    dir = mkdtempSync(join(tmpdir(), 'ha-agent-bgp-'));
    const include = { ipv4: join(dir, 'vips4.conf'), ipv6: join(dir, 'vips6.conf') };
    writeFileSync(include.ipv4, renderAnnounced([VIP], 'ipv4'));
    writeFileSync(include.ipv6, renderAnnounced([], 'ipv6'));
    const bgp = bgpSchema.parse({ asn: 65001, peers: [{ address: '10.51.0.1', asn: 65000 }] });
    writeFileSync(join(dir, 'lb.conf'), renderBird({ nodeId: 'lb', bgp, routerId: '10.51.0.11', include }));
    birds.push(startRouterBird(lab, dir));
    birds.push(lab.spawn('lb', 'bird', ['-f', '-c', join(dir, 'lb.conf'), '-s', join(dir, 'lb.ctl'), '-P', join(dir, 'lb.pid')]));
    child = lab.spawn('lb', process.execPath, [repoPath('dist/test/bgp/alive-child.js')]);
    await child.waitForLine('alive', 10_000);
  });

  after(async () => {
    if (child?.pid) process.kill(child.pid, 'SIGCONT');
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('announces while the refresher runs, withdraws within the lifetime after it stops, announces again on SIGCONT', async () => {
    await until(true, 15_000);
    const withdrawals: number[] = [];
    for (let trial = 0; trial < 3; trial++) {
      process.kill(child.pid!, 'SIGSTOP');
      withdrawals.push(await until(false, 5000));
      process.kill(child.pid!, 'SIGCONT');
      await until(true, 5000);
    }
    process.stdout.write(`# withdrawal after SIGSTOP (ms): ${withdrawals.map((ms) => Math.round(ms)).join(', ')}\n`);
    // The prefix was last refreshed at most one period before the stop; the kernel then deletes
    // it within its lifetime, checked with about a second's rounding.
    for (const ms of withdrawals) assert.ok(ms <= ALIVE_LIFETIME_S * 1000 + 1500, `withdrawn after ${Math.round(ms)} ms`);
  });

  it('an empty include file and birdc configure withdraw the VIP at once (node drain)', async () => {
    await until(true, 5000);
    writeFileSync(join(dir, 'vips4.conf'), renderAnnounced([], 'ipv4'));
    const t0 = performance.now();
    await lab.exec('lb', 'birdc', ['-s', join(dir, 'lb.ctl'), 'configure']);
    await until(false, 3000);
    const ms = performance.now() - t0;
    process.stdout.write(`# withdrawal after drain (ms): ${Math.round(ms)}\n`);
    assert.ok(ms < 1000, `withdrawn after ${Math.round(ms)} ms`);
    writeFileSync(join(dir, 'vips4.conf'), renderAnnounced([VIP], 'ipv4'));
    await lab.exec('lb', 'birdc', ['-s', join(dir, 'lb.ctl'), 'configure']);
    await until(true, 3000);
  });
});
