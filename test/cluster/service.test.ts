// The cluster service: the shared revision it starts from is the one the daemon says it runs, not
// whatever cluster-config.json holds (the daemon may have refused those farms at startup), and
// status reports the revision that runs, not one this node refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterSchema } from '../../config/schema.js';
import { silentLogger } from '../../agent/log.js';
import { createCluster, type ClusterService } from '../../agent/cluster/service.js';
import { writeAppliedShared } from '../../agent/state/shared-config.js';
import type { ClusterPorts } from '../../agent/daemon/ports.js';
import { parsedConfig } from '../support/config.js';
import { FakeStore, until } from './fake-store.js';

const cluster = clusterSchema.parse({ redis: 'redis://127.0.0.1:6379/0', heartbeat: '1h', heartbeat_ttl: '2h' });
const shared = { rev: 3, node: 'lb2', at: 1, farms: [] };

/**
 * The ports of a daemon that runs `sharedRevision` and refuses the shared farms when `refuse` is
 * set. Every revision it is asked to apply goes to `applied`.
 */
function fakePorts(stateDir: string, applied: number[], options: { sharedRevision: number; refuse?: boolean }): ClusterPorts {
  let sharedRevision = options.sharedRevision;
  const config = parsedConfig(`node: { id: lb1, state_dir: ${stateDir} }\nfarms: []\n`);
  return {
    logger: silentLogger,
    engine: {
      runtime: new Map(), dataplane: { lastApplyAt: null },
      farmConfig: () => undefined, adminOf: () => 'enabled', setHealth: () => undefined, setAdmin: async () => undefined,
    },
    config: { configPath: '/nonexistent', config: () => config, sharedRevision: () => sharedRevision },
    vrrp: { state: 'BACKUP' },
    verdicts: { health: new Map(), reason: () => undefined },
    changes: {
      applySharedFarms: async (_farms, revision) => {
        applied.push(revision);
        if (options.refuse) return `revision ${revision}: farms[0].vip: invalid`;
        sharedRevision = revision;
        return null;
      },
    },
  };
}

/** Built, then started, as the daemon does once it installed what the service offers. */
async function startCluster(ports: ClusterPorts, options: { store: FakeStore }): Promise<ClusterService> {
  const service = createCluster(ports, cluster, options);
  await service.start();
  return service;
}

for (const { name, sharedRevision, want } of [
  { name: 'the daemon refused the stored farms (it runs revision 0): the cluster revision is applied on connect', sharedRevision: 0, want: [3] },
  { name: 'the daemon runs revision 3: not applied again', sharedRevision: 3, want: [] },
]) {
  test(name, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ha-agent-cluster-'));
    // The state dir holds revision 3 either way: only the daemon knows whether it runs it.
    await writeAppliedShared(dir, shared);
    const store = new FakeStore();
    store.strings.set(store.keys.config, JSON.stringify(shared));
    const applied: number[] = [];
    const service = await startCluster(fakePorts(dir, applied, { sharedRevision }), { store });
    try {
      // The config read has been made and its outcome recorded (revision 3 is what the sync
      // considered, applied or not): no real-time window to guess.
      await until(() => store.count('get') >= 1 && store.inFlight === 0 && service.sync.revision === 3 && applied.length >= want.length);
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(applied, want);
      assert.equal(service.sync.revision, 3);
    } finally {
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('status reports the shared revision the daemon runs, not a newer one it refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-cluster-'));
  const store = new FakeStore();
  store.strings.set(store.keys.config, JSON.stringify(shared));
  const applied: number[] = [];
  const service = await startCluster(fakePorts(dir, applied, { sharedRevision: 2, refuse: true }), { store });
  try {
    await until(() => service.sync.revision === 3 && store.inFlight === 0);
    assert.deepEqual(applied, [3]);
    assert.equal(service.view.revision?.(), 2);
    // The heartbeat says which revision was considered, and why it does not run.
    const hb = JSON.parse(store.strings.get(store.keys.node('lb1'))!) as { config_revision: number; config_error: string | null };
    assert.equal(hb.config_revision, 3);
    assert.match(String(hb.config_error), /revision 3/);
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
