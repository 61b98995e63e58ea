// KernelLimitCounters with a fake runner: one command per family with limited farms, none when no
// farm has limits, and a failed read is an error naming the command.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KernelLimitCounters } from '../../agent/apply/kernel-counters.js';
import { FakeRunner } from '../../agent/apply/runner.fake.js';
import { GOLDEN_CASES } from '../render/cases.js';
import { desiredState } from '../support/config.js';

const golden = (name: string) => desiredState(GOLDEN_CASES.find((c) => c.name === name)!.yaml);
const counter = (family: string, name: string, packets: number) => ({ counter: { family, name, table: 'ha_agent', handle: 1, packets, bytes: 0 } });

describe('KernelLimitCounters', () => {
  it('nftables: one `nft -j list counters table` per family, whatever the number of farms', async () => {
    const runner = new FakeRunner((call) => {
      const family = call.args[4];
      const nftables = family === 'ip'
        ? [counter('ip', 'over_rate_web', 12), counter('ip', 'over_established_web', 0), counter('ip', 'over_max_conns_web_209b', 3)]
        : [counter('ip6', 'over_rate_dns6', 40), counter('ip6', 'over_max_conns_dns6_2bc', 1)];
      return { stdout: JSON.stringify({ nftables }) };
    });
    const counts = await new KernelLimitCounters(runner, 'nftables').read(golden('leastconn-limits-log'));
    assert.deepEqual(runner.calls.map((c) => [c.command, ...c.args]), [
      ['nft', '-j', 'list', 'counters', 'table', 'ip', 'ha_agent'], ['nft', '-j', 'list', 'counters', 'table', 'ip6', 'ha_agent']]);
    assert.deepEqual(counts.farms.map((f) => [f.farm, f.limit, f.action, f.refused]), [
      ['web', 'new_per_second', 'reject', 12], ['web', 'established', 'reject', 0], ['dns6', 'new_per_second', 'drop', 40]]);
    assert.deepEqual(counts.backends, [{ farm: 'web', backend: 'b1', refused: 3 }, { farm: 'dns6', backend: 'd1', refused: 1 }]);
  });

  it('iptables: `iptables-save -c -t filter`, ip6tables-save only for IPv6 farms with limits', async () => {
    const runner = new FakeRunner(() => ({ stdout: '*filter\n[2:120] -A HAL-app -m mark --mark 0x22bb/0x3fff -m connlimit --connlimit-above 2 --connlimit-mask 0 --connlimit-saddr -m comment --comment FARM_app_0_ -j HAGENT-REFUSE\nCOMMIT\n' }));
    const counts = await new KernelLimitCounters(runner, 'iptables').read(golden('max-conns-all-full'));
    assert.deepEqual(runner.calls.map((c) => [c.command, ...c.args]), [['iptables-save', '-c', '-t', 'filter']]);
    assert.deepEqual(counts, { farms: [], backends: [{ farm: 'app', backend: 'a1', refused: 2 }] });
  });

  it('no farm with limits: nothing run', async () => {
    const runner = new FakeRunner();
    assert.deepEqual(await new KernelLimitCounters(runner, 'nftables').read(golden('weights-123')), { farms: [], backends: [] });
    assert.equal(runner.calls.length, 0);
  });

  it('a failed read names the command', async () => {
    const runner = new FakeRunner(() => ({ exitCode: 1, stderr: 'Error: No such file or directory' }));
    await assert.rejects(new KernelLimitCounters(runner, 'nftables').read(golden('max-conns-all-full')), /cannot read the over-limit counters: nft exited 1: Error: No such file/);
  });
});
