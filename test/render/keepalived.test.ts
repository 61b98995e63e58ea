// keepalived.conf rendering: golden files (UPDATE_GOLDEN=1 rewrites them), and the real
// `keepalived -t` accepts every one of them in a namespace that has their interfaces.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { renderKeepalived, seconds, farmVips } from '../../agent/render/keepalived.js';
import { vrrpPaths } from '../../agent/vrrp/paths.js';
import { assertGolden, repoPath } from '../support/repo.js';
import { needsRoot } from '../support/root.js';
import { createLab, ethHostTopology, type Lab } from '../netns/topology.js';
import { KEEPALIVED_CASES, parsed } from './keepalived-cases.js';

function render(yaml: string): string {
  const config = parsed(yaml);
  if (!config.vrrp) throw new Error('case without vrrp');
  return renderKeepalived({ ...config, vrrp: config.vrrp }, vrrpPaths(config));
}

describe('keepalived.conf rendering', () => {
  for (const [name, yaml] of Object.entries(KEEPALIVED_CASES)) {
    it(`${name} matches its golden file`, () => assertGolden(`test/golden/keepalived/${name}.conf`, render(yaml)));
  }

  it('writes advert_int and delays as keepalived decimal seconds', () => {
    assert.deepEqual([10, 100, 250, 1000, 1010, 2500, 40_950].map(seconds), ['0.01', '0.1', '0.25', '1', '1.01', '2.5', '40.95']);
  });

  it('lists a VIP shared by several farms once, in config order', () => {
    assert.deepEqual(farmVips(parsed(KEEPALIVED_CASES['unicast-subsecond']!).farms), ['192.168.101.250', '192.168.101.251']);
  });

  it('every node starts BACKUP, with the liveness script and the notify FIFO in run_dir', () => {
    const text = render(KEEPALIVED_CASES['multicast-nopreempt']!);
    assert.match(text, /^\s+state BACKUP$/m);
    assert.doesNotMatch(text, /state MASTER/);
    assert.match(text, /^\s+vrrp_notify_fifo \/run\/ha-agent\/keepalived\.fifo$/m);
    assert.match(text, /script "\/usr\/bin\/test \/run\/ha-agent\/vrrp-alive -nt \/proc\/self"/);
    assert.doesNotMatch(text, /unicast/, 'no peers: multicast');
  });

  it('is deterministic: the same config renders the same text', () => {
    const yaml = KEEPALIVED_CASES['preempt-delay-refresh']!;
    assert.equal(render(yaml), render(yaml));
  });
});

describe('keepalived -t accepts the golden files', needsRoot(), () => {
  let lab: Lab;
  before(async () => {
    // keepalived -t checks that the interfaces exist, so give it a host with eth0 and eth1.
    lab = await createLab(ethHostTopology());
  });
  after(async () => {
    await lab?.destroy();
  });

  for (const name of Object.keys(KEEPALIVED_CASES)) {
    it(`${name}.conf`, async () => {
      const golden = repoPath(`test/golden/keepalived/${name}.conf`);
      const r = await lab.exec('lb', 'keepalived', ['-t', '-f', golden], { reject: false });
      assert.equal(r.exitCode, 0, `keepalived -t ${golden}: ${r.stderr}`);
      assert.equal(r.stderr.trim(), '', 'keepalived -t printed warnings');
    });
  }
});
