// The `notify` section: hooks run on transitions, as keepalived's notify scripts and HAProxy's
// mailers are, but as argument arrays (never a shell) or a webhook POST. Shape and per-hook rules;
// whether an exec hook's program exists is checked against the machine in config/host.ts.

import { z } from 'zod';
import { duration, quote, text } from './fields.js';
import { redactUrl } from './net.js';

export const NOTIFY_EVENTS = ['backend', 'vrrp', 'cluster', 'apply-error'] as const;
export type NotifyEventName = (typeof NOTIFY_EVENTS)[number];

/** What `{name}` in an exec argument is replaced by (agent/notify/event.ts fills them). */
export const NOTIFY_TOKENS = ['farm', 'backend', 'from', 'to', 'reason', 'node', 'event'] as const;
export type NotifyToken = (typeof NOTIFY_TOKENS)[number];

/** `{word}`: a token, or a typo of one (a JSON argument such as {"a":1} is not matched). */
export const TOKEN_PATTERN = /\{([a-z_]+)\}/g;

/** An http(s) URL fetch can POST to; shown redacted, as a webhook URL often carries a token. */
export function webhookUrlError(value: string): string | undefined {
  const shown = quote(redactUrl(value));
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${shown} is not a URL; expected one like https://alerts.example/hook`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${shown} is not an http:// or https:// URL`;
  // fetch refuses credentials in a URL; a token belongs in the path or query.
  if (url.username !== '' || url.password !== '') return `${shown} has a user or password in it, which fetch refuses; put a token in the path or query`;
  return undefined;
}

const argument = z.string({ invalid_type_error: 'expected an argument as a string' }).min(1, 'an argument cannot be empty');

export const notifyHookSchema = z.object({
  on: z.array(z.enum(NOTIFY_EVENTS), { invalid_type_error: `expected a list of events like [backend, vrrp]` })
    .min(1, `needs at least one event: ${NOTIFY_EVENTS.join(', ')}`),
  exec: z.array(argument, { invalid_type_error: 'expected the command as a list of arguments like [/usr/local/bin/page, "{farm}"]' })
    .min(1, 'the command is empty; give a list of arguments like [/usr/local/bin/page, "{farm}"]').optional(),
  webhook: text('an http:// or https:// URL', webhookUrlError).optional(),
  /** A run (or a POST) taking longer is killed (its whole process group) and counted as failed. */
  timeout: duration.default('10s'),
}, { invalid_type_error: 'expected a hook: a mapping like { on: [backend], exec: [/usr/local/bin/page, "{farm}"] }' }).strict()
  .superRefine((hook, ctx) => {
    const add = (path: (string | number)[], message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
    if (hook.exec && hook.webhook) add(['webhook'], 'give exec or webhook, not both');
    if (!hook.exec && !hook.webhook) add(['exec'], 'give exec (a command) or webhook (a URL)');
    hook.exec?.forEach((arg, i) => {
      for (const [, name] of arg.matchAll(TOKEN_PATTERN)) {
        if (i === 0) add(['exec', 0], `the program cannot hold a token ({${name}}); pass it as an argument`);
        else if (!(NOTIFY_TOKENS as readonly string[]).includes(name!)) {
          add(['exec', i], `unknown token {${name}}; the tokens are ${NOTIFY_TOKENS.map((t) => `{${t}}`).join(' ')}`);
        }
      }
    });
  });

export const notifySchema = z.array(notifyHookSchema, { invalid_type_error: 'expected a list of hooks like [{ on: [backend], exec: [...] }]' }).default([]);

export type NotifyHookConfig = z.output<typeof notifyHookSchema>;
