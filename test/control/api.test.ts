// daemonApi over its ports (a fake engine, a real ClusterSync on a fake store as the cluster's
// admin port): what each failure reports.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AdminState, FarmConfig } from '../../config/schema.js';
import { parseConfigText } from '../../config/load.js';
import { daemonApi } from '../../agent/control/api.js';
import { ControlError } from '../../agent/control/errors.js';
import { ClusterSync, type ClusterHost } from '../../agent/cluster/sync.js';
import type { PeerStore } from '../../agent/cluster/store.js';
import { clusterKeys } from '../../agent/cluster/keys.js';
import { splitMarkKey } from '../../agent/plan/marks.js';
import { FakeNetfilter } from '../../agent/apply/netfilter.fake.js';
import type { ApiPorts } from '../../agent/control/api.js';
import { silentLogger } from '../../agent/log.js';
import { CONFIG, sampleStatus } from './fakes.js';

const CLUSTERED = `${CONFIG}cluster: { redis: "redis://127.0.0.1:1" }\n`;

/** The engine calls daemonApi makes; setAdmin records the override, then the apply fails. */
function fakeEngine(applyError: string | null) {
  const parsed = parseConfigText(CLUSTERED);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const overrides = new Map<string, AdminState>();
  return {
    overrides,
    config: parsed.config,
    farmConfig: (name: string) => parsed.config.farms.find((f) => f.name === name),
    adminOf: (farm: FarmConfig, backend: string) => overrides.get(`${farm.name}/${backend}`) ?? 'enabled',
    async setAdmin(farm: string, backend: string, admin: AdminState) {
      overrides.set(`${farm}/${backend}`, admin);
      if (applyError) throw new Error(applyError);
    },
    desired: () => ({ markMask: parsed.config.dataplane.mark_mask, farms: [] }),
  };
}

/** A store that is connected or not, holding `shared` as the cluster's config. */
function fakeStore(connected: boolean, shared: unknown = null): PeerStore {
  const keys = clusterKeys('ha-agent', 'test');
  return {
    keys, connected, lastError: connected ? undefined : 'connect ECONNREFUSED',
    get: async (key: string) => (key === keys.config && shared !== null ? JSON.stringify(shared) : null),
  } as unknown as PeerStore;
}

function setup(options: { connected: boolean; applyError?: string; shared?: unknown; configPath?: string }) {
  const engine = fakeEngine(options.applyError ?? null);
  const host = {
    node: 'lb1',
    journal: { load: async () => new Map(), save: async () => undefined },
    applyAdmin: async (key: string, admin: AdminState) => {
      const [farm, backend] = splitMarkKey(key)!;
      await engine.setAdmin(farm, backend, admin);
    },
  } as unknown as ClusterHost;
  const sync = new ClusterSync(fakeStore(options.connected, options.shared), engine.config.cluster!, host, silentLogger);
  const ports: ApiPorts = {
    status: { status: () => sampleStatus() },
    events: { on: () => () => undefined, recentEvents: () => [] },
    backends: engine,
    // No shared config applied yet: the node runs revision 0.
    config: { configPath: options.configPath ?? '/nonexistent', config: () => engine.config, sharedRevision: () => 0 },
    changes: { reload: async () => ({ ok: true, changed: [] }) },
    rules: new FakeNetfilter(),
    cluster: () => sync,
  };
  return { api: daemonApi(ports), engine };
}

const rejectsWith = (promise: Promise<unknown>, code: string, message?: RegExp) =>
  assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ControlError, String(err));
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });

describe('daemonApi backend', () => {
  it('with --local and Redis down, a failed apply is apply_failed: the change is in effect', async () => {
    const { api, engine } = setup({ connected: false, applyError: 'iptables-restore: line 3 failed' });
    await rejectsWith(api.backend('web', 'b1', 'drain', true), 'apply_failed', /web\/b1 is now drain, but applying the rules failed: iptables-restore/);
    assert.equal(engine.overrides.get('web/b1'), 'drain');
  });

  it('without --local and Redis down, it is cluster_unavailable and nothing changed', async () => {
    const { api, engine } = setup({ connected: false });
    await rejectsWith(api.backend('web', 'b1', 'drain'), 'cluster_unavailable', /give --local/);
    assert.equal(engine.overrides.size, 0);
  });
});

describe('daemonApi configDiff', () => {
  let dir: string;
  let configPath: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ha-agent-api-'));
    configPath = join(dir, 'config.yaml');
    await writeFile(configPath, CLUSTERED);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const farm = (name: string, vip: string) => ({ name, vip, ports: [80], backends: [{ name: 'b1', ip: '10.2.0.11', port: 8080 }] });
  const shared = (farms: unknown[]) => ({ rev: 9, node: 'lb2', at: 0, farms });

  it('compares the shared farms with the file', async () => {
    const { api } = setup({ connected: true, configPath, shared: shared([farm('web', '10.1.0.100'), farm('new', '10.1.0.102')]) });
    const r = await api.configDiff();
    assert.deepEqual(r, { running_revision: 0, cluster_revision: 9, only_local: ['dns'], only_cluster: ['new'], different: ['web'] });
  });

  it('shared farms that do not validate here are config_invalid, not every local farm only_local', async () => {
    const { api } = setup({ connected: true, configPath, shared: shared([farm('web', 'nowhere')]) });
    await assert.rejects(api.configDiff(), (err: unknown) => {
      assert.ok(err instanceof ControlError);
      assert.equal(err.code, 'config_invalid');
      assert.match(err.message, /revision 9/);
      assert.deepEqual(err.details, ['farms[0].vip: "nowhere" is not an IPv4 address']);
      return true;
    });
  });
});

describe('daemonApi backend on a farm without flow state', () => {
  const DSR = `node: { id: lb1 }
farms:
  - name: web
    vip: 10.60.0.100
    ports: [80]
    mode: dsr
    algorithm: hash-5tuple
    check: { type: none }
    backends:
      - { name: b1, ip: 10.2.0.11 }
      - { name: b2, ip: 10.2.0.12 }
`;
  const api = (yaml: string) => {
    const parsed = parseConfigText(yaml);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const admin = new Map<string, AdminState>();
    const engine = {
      config: parsed.config,
      farmConfig: (name: string) => parsed.config.farms.find((f) => f.name === name),
      adminOf: (farm: FarmConfig, backend: string) => admin.get(`${farm.name}/${backend}`) ?? 'enabled',
      setAdmin: async (farm: string, backend: string, a: AdminState) => void admin.set(`${farm}/${backend}`, a),
      desired: () => ({ markMask: parsed.config.dataplane.mark_mask, farms: [] }),
    };
    return daemonApi({
      status: { status: () => sampleStatus() },
      events: { on: () => () => undefined, recentEvents: () => [] },
      backends: engine,
      config: { configPath: '/nonexistent', config: () => engine.config, sharedRevision: () => 0 },
      changes: { reload: async () => ({ ok: true, changed: [] }) },
      rules: new FakeNetfilter(),
      cluster: () => undefined,
    } as unknown as ApiPorts);
  };

  it('a drain on a dsr farm says that established connections move, as in maintenance', async () => {
    const r = await api(DSR).backend('web', 'b1', 'drain');
    assert.match(r.note ?? '', /dsr farm keeps no flow state on the LB: the drained backend's established connections move/);
    assert.equal((await api(DSR).backend('web', 'b1', 'maintenance')).note, undefined);
  });

  it('a drain on a dnat farm keeps established connections, and says nothing more', async () => {
    const r = await api(CONFIG).backend('web', 'b1', 'drain');
    assert.equal(r.note, undefined);
  });
});
