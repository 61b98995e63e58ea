// conntrackd.conf rendering: golden files, and the real conntrackd starts on each config and
// answers on its socket (it has no config-test mode).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ignoredAddresses, renderConntrackd } from '../../agent/render/conntrackd.js';
import { vrrpPaths } from '../../agent/vrrp/paths.js';
import { assertGolden } from '../support/repo.js';
import { needsRoot } from '../support/root.js';
import { createLab, ethHostTopology, waitFor, type Lab } from '../netns/topology.js';
import { CONNTRACKD_CASES, parsed } from './keepalived-cases.js';

function input(yaml: string) {
  const config = parsed(yaml);
  if (!config.conntrackd) throw new Error('case without conntrackd');
  return { ...config, conntrackd: config.conntrackd };
}

describe('conntrackd.conf rendering', () => {
  for (const [name, yaml] of Object.entries(CONNTRACKD_CASES)) {
    it(`${name} matches its golden file`, () => {
      const config = input(yaml);
      assertGolden(`test/golden/conntrackd/${name}.conf`, renderConntrackd(config, vrrpPaths(config)));
    });
  }

  it('syncs UDP only when a farm is UDP, and never the node\'s own addresses', () => {
    const udp = input(CONNTRACKD_CASES['ftfw-udp']!);
    const tcp = input(CONNTRACKD_CASES['ftfw-tcp-only-port']!);
    assert.match(renderConntrackd(udp, vrrpPaths(udp)), /^\t\t\tUDP$/m);
    assert.doesNotMatch(renderConntrackd(tcp, vrrpPaths(tcp)), /^\t\t\tUDP$/m);
    assert.deepEqual(ignoredAddresses(udp), ['127.0.0.1', '192.168.1.2', '192.168.101.1']);
  });
});

describe('conntrackd runs with the rendered configs', needsRoot(), () => {
  let lab: Lab;
  let dir: string;
  before(async () => {
    lab = await createLab(ethHostTopology());
    dir = await mkdtemp(join(tmpdir(), 'ha-conntrackd-conf-'));
  });
  after(async () => {
    await lab?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  for (const name of Object.keys(CONNTRACKD_CASES)) {
    it(`${name}`, async () => {
      // The golden files name /run/ha-agent; a test run keeps its lock and socket in a temp dir.
      const config = input(CONNTRACKD_CASES[name]!.replace('run_dir: /run/ha-agent', `run_dir: ${dir}/${name}`));
      const paths = vrrpPaths(config);
      await mkdir(config.node.run_dir);
      const file = join(dir, `${name}.conf`);
      await writeFile(file, renderConntrackd(config, paths));
      const daemon = lab.spawn('lb', 'conntrackd', ['-C', file]);
      try {
        await waitFor(async () => (await lab.exec('lb', 'conntrackd', ['-C', file, '-s'], { reject: false })).exitCode === 0,
          { timeoutMs: 5000, intervalMs: 100, what: `conntrackd with ${name}.conf to answer -s` });
        assert.equal(daemon.exited, false, daemon.stderrLines.join('\n'));
      } finally {
        await daemon.stop(3000);
      }
    });
  }
});
