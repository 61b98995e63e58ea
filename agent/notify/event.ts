// What a notify hook is told: one flat record per transition, whatever its source, so an exec
// hook's tokens and a webhook's JSON carry the same fields. Pure: events in, records out.

import type { NotifyEventName, NotifyToken } from '../../config/notify.js';
import { TOKEN_PATTERN } from '../../config/notify.js';
import type { EngineEvent } from '../engine/history.js';

export interface NotifyEvent {
  readonly event: NotifyEventName;
  readonly node: string;
  /** Empty for events that are not about a backend (vrrp, cluster, apply-error). */
  readonly farm: string;
  readonly backend: string;
  readonly from: string;
  readonly to: string;
  readonly reason: string;
  /** Milliseconds since the epoch. */
  readonly at: number;
}

/**
 * The hook record of an engine event, or undefined for those hooks do not hear (applies, single
 * check results, a first check that finds a backend up). An admin change is a `backend` event
 * whose reason says so.
 */
export function fromEngineEvent(node: string, event: EngineEvent): NotifyEvent | undefined {
  switch (event.type) {
    case 'transition':
      // A backend found healthy at start is not news; one found down is.
      if (event.from === 'unknown' && event.to === 'up') return undefined;
      return { event: 'backend', node, farm: event.farm, backend: event.backend, from: event.from, to: event.to, reason: event.reason, at: event.at };
    case 'admin':
      return { event: 'backend', node, farm: event.farm, backend: event.backend, from: event.from, to: event.to, reason: 'admin state changed', at: event.at };
    case 'apply-error':
      return { event: 'apply-error', node, farm: '', backend: '', from: '', to: '', reason: event.error, at: event.at };
    case 'applied':
    case 'check':
      return undefined;
  }
}

export function vrrpEvent(node: string, from: string, to: string, at: number): NotifyEvent {
  return { event: 'vrrp', node, farm: '', backend: '', from, to, reason: 'keepalived', at };
}

export function clusterEvent(node: string, connected: boolean, reason: string, at: number): NotifyEvent {
  const [from, to] = connected ? ['disconnected', 'connected'] : ['connected', 'disconnected'];
  return { event: 'cluster', node, farm: '', backend: '', from, to, reason, at };
}

/**
 * One argument with its tokens replaced by the event's fields, in one pass: a value is never
 * read again for tokens, and nothing else in the argument is interpreted (no shell, no quoting).
 */
export function substitute(arg: string, event: NotifyEvent): string {
  return arg.replace(TOKEN_PATTERN, (whole, name: string) =>
    (Object.hasOwn(TOKEN_VALUES, name) ? TOKEN_VALUES[name as NotifyToken](event) : whole));
}

const TOKEN_VALUES: Readonly<Record<NotifyToken, (e: NotifyEvent) => string>> = {
  farm: (e) => e.farm, backend: (e) => e.backend, from: (e) => e.from, to: (e) => e.to,
  reason: (e) => e.reason, node: (e) => e.node, event: (e) => e.event,
};

/** A webhook's body: the same fields, the time as ISO 8601. */
export function webhookBody(event: NotifyEvent): string {
  return JSON.stringify({ ...event, at: new Date(event.at).toISOString() });
}
