// The daemon's VRRP service follows each config the daemon puts in use through its reconfigure
// hook, at once and in order, rather than looking for a new config() now and then.

import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Service, VrrpPorts } from '../../agent/daemon/ports.js';
import { silentLogger } from '../../agent/log.js';
import { startVrrp, type VrrpService } from '../../agent/vrrp/service.js';
import { VrrpView } from '../../agent/vrrp/state.js';
import { parseConfigText } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { waitFor } from '../netns/poll.js';
import { MixedRunner } from './fakes.js';

let dir = '';
let service: VrrpService | undefined;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'ha-vrrp-service-')); });
afterEach(async () => {
  await service?.stop();
  service = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** keepalived in systemd mode (written to config_path, reloaded through the runner) with the farms' VIPs. */
function config(...vips: string[]): Config {
  const farms = vips.map((vip, i) => `{ name: f${i}, vip: ${vip}, ports: [80], backends: [{ name: b1, ip: 10.2.0.11, port: 80 }] }`);
  const r = parseConfigText(`node: { id: lb1, state_dir: ${dir}/state, run_dir: ${dir}/run }
farms: [${farms.join(', ')}]
vrrp: { interface: front, virtual_router_id: 51, priority: 150, keepalived: { mode: systemd, config_path: ${dir}/etc/keepalived.conf } }
`);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

/** The service's ports; `config` answers as the test says. */
const fakePorts = (config: () => Config): VrrpPorts => ({ config: { config }, logger: silentLogger, vrrp: new VrrpView(true) });

const keepalivedConf = () => readFileSync(join(dir, 'etc', 'keepalived.conf'), 'utf8');
const reloads = (runner: MixedRunner) => runner.fake.calls.filter((c) => c.command === 'systemctl' && c.args.join(' ') === 'reload keepalived').length;

describe('vrrp service', () => {
  it('a reload reaches keepalived through the hook, done when the hook resolves (no poll of config())', async () => {
    const runner = new MixedRunner();
    const first = config('10.1.0.100');
    // The daemon installs the service as a Service, and calls its hook as one.
    const entry: Service = service = await startVrrp(fakePorts(() => first), runner);
    assert.doesNotMatch(keepalivedConf(), /10\.1\.0\.101/);
    assert.equal(reloads(runner), 1);

    // The daemon calls the hook without awaiting it; the same config again queues behind that
    // call (and changes nothing), so awaiting it awaits the daemon's.
    const added = config('10.1.0.100', '10.1.0.101');
    entry.reconfigure?.(added);
    await service.reconfigure(added);
    assert.match(keepalivedConf(), /10\.1\.0\.101/);
    assert.equal(reloads(runner), 2, 'written and reloaded once');
  });

  it('runs reconfigures one after the other: the last config put in use is the one written', async () => {
    const runner = new MixedRunner();
    const first = config('10.1.0.100');
    service = await startVrrp(fakePorts(() => first), runner);
    void service.reconfigure(config('10.1.0.100', '10.1.0.101'));
    await service.reconfigure(config('10.1.0.100', '10.1.0.102'));
    assert.match(keepalivedConf(), /10\.1\.0\.102/);
    assert.doesNotMatch(keepalivedConf(), /10\.1\.0\.101/);
    assert.equal(reloads(runner), 3);
  });

  it('catches up with a config put in use while it was starting', async () => {
    const runner = new MixedRunner();
    const first = config('10.1.0.100');
    const reloaded = config('10.1.0.100', '10.1.0.101');
    let current = first;
    service = await startVrrp(fakePorts(() => {
      const answer = current;
      current = reloaded; // the daemon swaps its config once the service has read the first one
      return answer;
    }), runner);
    await waitFor(() => /10\.1\.0\.101/.test(keepalivedConf()), { timeoutMs: 2000, what: 'the reloaded VIP in keepalived.conf' });
  });
});
