// The engine's history events as the control API shows them (`agentctl events`).

import type { HistoryEvent } from '../engine/engine.js';

export type EventRecord =
  | { readonly at: string; readonly type: 'transition'; readonly farm: string; readonly backend: string; readonly from: string; readonly to: string; readonly reason: string }
  | { readonly at: string; readonly type: 'admin'; readonly farm: string; readonly backend: string; readonly from: string; readonly to: string }
  | { readonly at: string; readonly type: 'apply-error'; readonly error: string };

export function toEventRecord(event: HistoryEvent): EventRecord {
  const at = new Date(event.at).toISOString();
  switch (event.type) {
    case 'transition':
      return { at, type: 'transition', farm: event.farm, backend: event.backend, from: event.from, to: event.to, reason: event.reason };
    case 'admin':
      return { at, type: 'admin', farm: event.farm, backend: event.backend, from: event.from, to: event.to };
    case 'apply-error':
      return { at, type: 'apply-error', error: event.error };
    default: {
      const never: never = event;
      throw new Error(`unknown event ${JSON.stringify(never)}`);
    }
  }
}

export { isHistoryEvent } from '../engine/engine.js';
