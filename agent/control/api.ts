// The control commands over the daemon: what each request does, as data in and data out.

import type { AdminState } from '../../config/schema.js';
import type { Daemon } from '../daemon/main.js';
import { ControlError } from './errors.js';
import { isHistoryEvent, toEventRecord, type EventRecord } from './events.js';
import { MAX_EVENTS, type BackendResult, type ReloadResult, type Request, type RulesResult } from './protocol.js';
import { daemonStatus } from './snapshot.js';
import type { Status } from './status.js';

/** The capability the socket server serves; a fake implements it in unit tests. */
export interface ControlApi {
  status(): Status;
  backend(farm: string, backend: string, admin: AdminState): Promise<BackendResult>;
  reload(): Promise<ReloadResult>;
  rules(): Promise<RulesResult>;
  events(n: number): EventRecord[];
  /** Calls `listener` for each new event until the returned function is called. */
  subscribe(listener: (event: EventRecord) => void): () => void;
}

export const DEFAULT_EVENTS = 20;

/** Runs one validated request; rejects with ControlError for anything the caller should see. */
export async function dispatch(api: ControlApi, request: Request): Promise<unknown> {
  switch (request.cmd) {
    case 'status':
      return api.status();
    case 'backend':
      return api.backend(request.farm, request.backend, request.admin);
    case 'reload':
      return api.reload();
    case 'rules':
      return api.rules();
    case 'events':
      return { events: api.events(Math.min(MAX_EVENTS, request.n ?? DEFAULT_EVENTS)) };
    default: {
      const never: never = request;
      throw new ControlError('unknown_command', `unknown command ${JSON.stringify((never as { cmd: unknown }).cmd)}`);
    }
  }
}

const list = (names: readonly string[]): string => (names.length > 0 ? names.join(', ') : 'none');

export function daemonApi(daemon: Daemon): ControlApi {
  const { engine } = daemon;
  return {
    status: () => daemonStatus(daemon),
    async backend(farm, backend, admin) {
      const farmConfig = engine.farmConfig(farm);
      if (!farmConfig) throw new ControlError('unknown_farm', `unknown farm "${farm}" (farms: ${list(engine.config.farms.map((f) => f.name))})`);
      if (!farmConfig.backends.some((b) => b.name === backend)) {
        throw new ControlError('unknown_backend', `farm ${farm} has no backend "${backend}" (backends: ${list(farmConfig.backends.map((b) => b.name))})`);
      }
      const from = engine.adminOf(farmConfig, backend);
      const started = performance.now();
      try {
        await engine.setAdmin(farm, backend, admin);
      } catch (err) {
        throw new ControlError('apply_failed', `${farm}/${backend} is now ${admin}, but applying the rules failed: ${(err as Error).message}; the agent retries`, undefined, { cause: err });
      }
      const planned = engine.desired().farms.find((f) => f.name === farm)?.backends.find((b) => b.name === backend);
      return {
        farm, backend, from, admin, applied_ms: Number((performance.now() - started).toFixed(3)),
        in_chain: planned?.inChain ?? false, share: planned?.inChain ? Number(planned.share.toFixed(6)) : 0,
      };
    },
    async reload() {
      let result: Awaited<ReturnType<Daemon['reload']>>;
      try {
        result = await daemon.reload();
      } catch (err) {
        throw new ControlError('apply_failed', `the new config is loaded but applying it failed: ${(err as Error).message}; the agent retries`, undefined, { cause: err });
      }
      if (!result.ok) {
        const n = result.errors.length;
        throw new ControlError('config_invalid', `${daemon.configPath} has ${n} error${n === 1 ? '' : 's'}; the running config is kept`, result.errors);
      }
      return { changed: result.changed };
    },
    async rules() {
      try {
        const report = await daemon.netfilter.verify();
        return { driver: daemon.netfilter.driver, text: daemon.netfilter.appliedText(), in_sync: report.inSync, differences: report.differences };
      } catch (err) {
        throw new ControlError('verify_failed', `cannot read the rules back from the kernel: ${(err as Error).message}`, undefined, { cause: err });
      }
    },
    events: (n) => engine.recentEvents(n).map(toEventRecord),
    subscribe: (listener) => engine.on((event) => {
      if (isHistoryEvent(event)) listener(toEventRecord(event));
    }),
  };
}
