// startCluster: the shared revision it starts from is the one the daemon says it runs, not
// whatever cluster-config.json holds (the daemon may have refused those farms at startup).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterSchema } from '../../config/schema.js';
import { silentLogger } from '../../agent/log.js';
import { startCluster, writeAppliedShared } from '../../agent/cluster/service.js';
import type { Daemon } from '../../agent/daemon/main.js';
import { FakeStore, until } from './fake-store.js';

const cluster = clusterSchema.parse({ redis: 'redis://127.0.0.1:6379/0', heartbeat: '1h', heartbeat_ttl: '2h' });
const shared = { rev: 3, node: 'lb2', at: 1, farms: [] };

/** Just what startCluster reads of a daemon. */
function fakeDaemon(stateDir: string, applied: number[]): Daemon {
  const daemon = {
    logger: silentLogger,
    engine: { config: { farms: [] }, runtime: new Map(), dataplane: { lastApplyAt: null }, farmConfig: () => undefined, setHealth: () => undefined },
    config: () => ({ node: { id: 'lb1', state_dir: stateDir }, vrrp: undefined }),
    vrrp: { state: 'BACKUP' },
    localHealth: new Map(), localReasons: new Map(), services: [],
    applySharedFarms: async (_farms: unknown[], revision: number) => {
      applied.push(revision);
      return null;
    },
  };
  return daemon as unknown as Daemon;
}

for (const { name, appliedRevision, want } of [
  { name: 'the daemon refused the stored farms (no revision given): the cluster revision is applied on connect', appliedRevision: undefined, want: [3] },
  { name: 'the daemon runs revision 3: not applied again', appliedRevision: 3, want: [] },
]) {
  test(name, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ha-agent-cluster-'));
    // The state dir holds revision 3 either way: only the daemon knows whether it runs it.
    await writeAppliedShared(dir, shared);
    const store = new FakeStore();
    store.strings.set(store.keys.config, JSON.stringify(shared));
    const applied: number[] = [];
    const sync = await startCluster(fakeDaemon(dir, applied), cluster, { store, appliedRevision });
    try {
      await until(() => store.count('get') >= 1 && store.inFlight === 0);
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(applied, want);
      assert.equal(sync.revision, 3);
    } finally {
      await sync.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
