// The control commands over the daemon's ports: what each request does, as data in and data out.

import type { AdminState, FarmConfig } from '../../config/schema.js';
import type { ControlPorts, ReloadOutcome } from '../daemon/ports.js';
import { ControlError } from './errors.js';
import { isHistoryEvent, toEventRecord, type EventRecord } from './events.js';
import { DEFAULT_EVENTS, MAX_EVENTS, type BackendResult, type ConfigDiffResult, type ConfigPushResult, type NodeAction, type NodeResult, type ReloadResult, type Request, type RulesResult } from './protocol.js';
import { issueLines, loadConfigFile, withSharedFarms } from '../../config/load.js';
import { markKey } from '../plan/marks.js';
import { reportedShare, round, type Status } from './status.js';

/** The capability the socket server serves; a fake implements it in unit tests. */
export interface ControlApi {
  status(): Status;
  /** Cluster-wide when clustered, unless `local`. */
  backend(farm: string, backend: string, admin: AdminState, local?: boolean): Promise<BackendResult>;
  configPush(farms: readonly unknown[]): Promise<ConfigPushResult>;
  configDiff(): Promise<ConfigDiffResult>;
  reload(): Promise<ReloadResult>;
  rules(): Promise<RulesResult>;
  events(n: number): EventRecord[];
  /** Calls `listener` for each new event until the returned function is called. */
  subscribe(listener: (event: EventRecord) => void): () => void;
  /** `agentctl node drain|enable` (bgp); an API without it answers bgp_disabled. */
  node?(action: NodeAction): Promise<NodeResult>;
}

/** Runs one validated request; rejects with ControlError for anything the caller should see. */
export async function dispatch(api: ControlApi, request: Request): Promise<unknown> {
  switch (request.cmd) {
    case 'status':
      return api.status();
    case 'backend':
      return api.backend(request.farm, request.backend, request.admin, request.local ?? false);
    case 'config_push':
      return api.configPush(request.farms);
    case 'config_diff':
      return api.configDiff();
    case 'reload':
      return api.reload();
    case 'rules':
      return api.rules();
    case 'events':
      return { events: api.events(Math.min(MAX_EVENTS, request.n ?? DEFAULT_EVENTS)) };
    case 'node':
      if (!api.node) throw new ControlError('bgp_disabled', 'this agent has no BGP speaker: node drain/enable need a bgp section');
      return api.node(request.action);
    default: {
      const never: never = request;
      throw new ControlError('unknown_command', `unknown command ${JSON.stringify((never as { cmd: unknown }).cmd)}`);
    }
  }
}

const list = (names: readonly string[]): string => (names.length > 0 ? names.join(', ') : 'none');

/**
 * dsr and tunnel farms keep no flow state on the LB (every packet is hashed afresh, so any LB can
 * carry any packet): nothing can tell an established flow of a drained backend from a new one, so
 * its flows move with its buckets, as in maintenance. Said with the answer, so it is never a surprise.
 */
export function statelessDrainNote(farm: Pick<FarmConfig, 'mode'>): string | undefined {
  if (farm.mode !== 'dsr' && farm.mode !== 'tunnel') return undefined;
  return `a ${farm.mode} farm keeps no flow state on the LB: the drained backend's established connections move with its buckets, as in maintenance`;
}

/** The ports the API runs on: what `startControl` is given, less the logger. */
export type ApiPorts = Omit<ControlPorts, 'logger'>;

export function daemonApi(ports: ApiPorts): ControlApi {
  const { backends: engine, config } = ports;
  return {
    status: () => ports.status.status(),
    async backend(farm, backend, admin, local = false) {
      const farmConfig = engine.farmConfig(farm);
      if (!farmConfig) throw new ControlError('unknown_farm', `unknown farm "${farm}" (farms: ${list(engine.config.farms.map((f) => f.name))})`);
      if (!farmConfig.backends.some((b) => b.name === backend)) {
        throw new ControlError('unknown_backend', `farm ${farm} has no backend "${backend}" (backends: ${list(farmConfig.backends.map((b) => b.name))})`);
      }
      const from = engine.adminOf(farmConfig, backend);
      const started = performance.now();
      const sync = ports.cluster();
      try {
        if (sync) await sync.setAdmin(markKey(farm, backend), admin, local);
        else await engine.setAdmin(farm, backend, admin);
      } catch (err) {
        // With --local the action is queued and the admin state set even while Redis is down:
        // only a failed apply is left to report, not "nothing changed".
        if (sync && !local && !sync.connectedNow()) throw new ControlError('cluster_unavailable', (err as Error).message, undefined, { cause: err });
        throw new ControlError('apply_failed', `${farm}/${backend} is now ${admin}, but applying the rules failed: ${(err as Error).message}; the agent retries`, undefined, { cause: err });
      }
      const planned = engine.desired().farms.find((f) => f.name === farm)?.backends.find((b) => b.name === backend);
      const note = admin === 'drain' ? statelessDrainNote(farmConfig) : undefined;
      return {
        farm, backend, from, admin, applied_ms: round(performance.now() - started, 3),
        in_chain: planned?.inChain ?? false, share: planned ? reportedShare(planned) : 0, ...(note ? { note } : {}),
      };
    },
    async reload() {
      let result: ReloadOutcome;
      try {
        result = await ports.changes.reload();
      } catch (err) {
        throw new ControlError('apply_failed', `the new config is loaded but applying it failed: ${(err as Error).message}; the agent retries`, undefined, { cause: err });
      }
      if (!result.ok) {
        const n = result.errors.length;
        throw new ControlError('config_invalid', `${config.configPath} has ${n} error${n === 1 ? '' : 's'}; the running config is kept`, result.errors);
      }
      return { changed: result.changed };
    },
    async rules() {
      try {
        const report = await ports.rules.verify();
        return { driver: ports.rules.driver, text: ports.rules.appliedText(), in_sync: report.inSync, differences: report.differences };
      } catch (err) {
        throw new ControlError('verify_failed', `cannot read the rules back from the kernel: ${(err as Error).message}`, undefined, { cause: err });
      }
    },
    async configPush(farms) {
      const sync = ports.cluster();
      if (!sync) throw new ControlError('cluster_unavailable', 'this node has no cluster section: there is nothing to push to');
      // Validate against this node's own config first: refuse here rather than in every node.
      const local = await loadConfigFile(config.configPath);
      if (!local.ok) throw new ControlError('config_invalid', `${config.configPath} itself is invalid`, issueLines(local.issues));
      const merged = await loadConfigFile(config.configPath, {}, farms);
      if (!merged.ok) throw new ControlError('config_invalid', `the pushed farms are invalid; nothing was pushed`, issueLines(merged.issues));
      try {
        return { revision: await sync.pushConfig([...farms]) };
      } catch (err) {
        throw new ControlError('cluster_unavailable', (err as Error).message, undefined, { cause: err });
      }
    },
    async configDiff() {
      const sync = ports.cluster();
      if (!sync) throw new ControlError('cluster_unavailable', 'this node has no cluster section');
      const local = await loadConfigFile(config.configPath);
      if (!local.ok) throw new ControlError('config_invalid', `${config.configPath} is invalid`, issueLines(local.issues));
      const shared = await sync.sharedConfig();
      const cluster = withSharedFarms(local, shared?.farms ?? null);
      // Farms that do not validate here cannot be compared; an empty "theirs" would list every
      // local farm as only_local.
      if (!cluster.ok) throw new ControlError('config_invalid', `the cluster's shared farms (revision ${shared?.rev}) are invalid against ${config.configPath}`, issueLines(cluster.issues));
      const mine = new Map(local.config.farms.map((f) => [f.name, JSON.stringify(f)]));
      const theirs = new Map(shared ? cluster.config.farms.map((f) => [f.name, JSON.stringify(f)]) : []);
      return {
        // The shared revision this node runs, as the cluster's revision() (status) reports it.
        running_revision: config.sharedRevision(),
        cluster_revision: shared?.rev ?? null,
        only_local: [...mine.keys()].filter((n) => !theirs.has(n)),
        only_cluster: [...theirs.keys()].filter((n) => !mine.has(n)),
        different: [...mine.keys()].filter((n) => theirs.has(n) && theirs.get(n) !== mine.get(n)),
      };
    },
    // node drain|enable: BGP announcements only; the data path keeps forwarding what arrives.
    async node(action) {
      const bgp = ports.bgp?.();
      if (!bgp) throw new ControlError('bgp_disabled', 'this node has no bgp section: it announces nothing to drain or enable');
      await bgp.setDrained(action === 'drain');
      return { state: bgp.drained ? 'drained' : 'enabled', announced: bgp.announced() };
    },
    events: (n) => ports.events.recentEvents(n).map(toEventRecord),
    subscribe: (listener) => ports.events.on((event) => {
      if (isHistoryEvent(event)) listener(toEventRecord(event));
    }),
  };
}
