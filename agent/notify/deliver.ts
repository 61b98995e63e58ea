// How one hook tells one event: an exec run through the project's runner (argument array, its own
// process group killed at the timeout) or a webhook POST through fetch with an abort timeout.
// Each returns why it failed, or undefined; neither throws.

import { findProgram } from '../../config/program.js';
import type { NotifyHookConfig } from '../../config/notify.js';
import { describeFailure, type Runner } from '../apply/runner.js';
import { substitute, webhookBody, type NotifyEvent } from './event.js';

export type Deliver = (event: NotifyEvent, signal: AbortSignal) => Promise<string | undefined>;

/** The most of a run's output or a webhook's error kept in a message. */
const MAX_DETAIL = 200;
const clip = (text: string): string => (text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}...` : text);

export function execDeliver(command: readonly string[], timeoutMs: number, runner: Runner): Deliver {
  const [program, ...args] = command;
  return async (event, signal) => {
    // Looked up as check-config does (config/host.ts), so what it accepted is what runs.
    const file = (await findProgram(program!)) ?? program!;
    const run = await runner.run(file, args.map((arg) => substitute(arg, event)), { timeoutMs, signal });
    if (run.exitCode === 0 && !run.timedOut && run.spawnError === undefined) return undefined;
    return clip(describeFailure(run));
  };
}

/** Where a webhook goes, as logs and stats show it: its origin only, as the path often holds a token. */
export function webhookOrigin(url: string): string {
  return new URL(url).origin;
}

export function webhookDeliver(url: string, timeoutMs: number): Deliver {
  return async (event, signal) => {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'ha-agent' },
        body: webhookBody(event),
        // A redirect could lead anywhere; a hook's URL is the one configured.
        redirect: 'error',
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      });
      // Read to the end (bounded by the timeout) so the connection is released.
      await response.arrayBuffer().catch(() => undefined);
      return response.ok ? undefined : `HTTP ${response.status} from ${webhookOrigin(url)}`;
    } catch (err) {
      const e = err as Error & { cause?: Error };
      if (e.name === 'TimeoutError') return `${webhookOrigin(url)}: timed out after ${timeoutMs} ms`;
      if (e.name === 'AbortError') return `${webhookOrigin(url)}: stopped`;
      // undici says "fetch failed" and puts the reason (ECONNREFUSED...) in the cause; neither holds the URL's path.
      return clip(`${webhookOrigin(url)}: ${e.cause?.message ?? e.message}`);
    }
  };
}

export function deliverFor(hook: NotifyHookConfig, runner: Runner): Deliver {
  if (hook.exec) return execDeliver(hook.exec, hook.timeout, runner);
  return webhookDeliver(hook.webhook!, hook.timeout);
}

/** How a hook is named in logs and stats, without any secret a webhook URL may carry. */
export function hookTarget(hook: NotifyHookConfig): { kind: 'exec' | 'webhook'; target: string } {
  return hook.exec ? { kind: 'exec', target: hook.exec[0]! } : { kind: 'webhook', target: webhookOrigin(hook.webhook!) };
}
