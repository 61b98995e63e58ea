// Field builders for schema.ts whose messages name the value that is wrong and the accepted form.

import { z } from 'zod';
import { readDuration } from './duration.js';
import { isIPv4 } from './net.js';

/** How a value is shown in a message: "10.0.0.300", 5, true, a list, a mapping, an empty value. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export const quote = (value: unknown): string => JSON.stringify(value);

/**
 * A non-string field read by `read`, which returns the value, or a string saying what is wrong.
 * Used instead of z.union, whose failures zod reports as one vague "Invalid input".
 */
export function readWith<T extends number | boolean | object>(read: (value: unknown) => T | string) {
  return z.any().transform((value, ctx): T => {
    const out = value === undefined ? 'is required' : read(value);
    if (typeof out !== 'string') return out;
    // Fatal, so refinements chained after this field do not run on a value that is not there.
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: out, fatal: true });
    return z.NEVER;
  });
}

/** A string field; `problem` returns what is wrong with it, or undefined. */
export function text(expected: string, problem: (s: string) => string | undefined) {
  return z.string({ invalid_type_error: `expected ${expected}` }).superRefine((s, ctx) => {
    const message = problem(s);
    if (message) ctx.addIssue({ code: z.ZodIssueCode.custom, message });
  });
}

/** A name matching `re`, described in words (`form`) rather than as a regex. */
export const name = (re: RegExp, what: string, form: string) =>
  text(what, (s) => (re.test(s) ? undefined : `${quote(s)} is not a valid ${what}; use ${form}`));

export const wholeNumber = (min: number, max: number) => readWith((v): number | string => {
  if (typeof v !== 'number') return `expected a whole number ${min}-${max}, got ${describeValue(v)}`;
  if (!Number.isInteger(v)) return `${v} is not a whole number (${min}-${max})`;
  return v >= min && v <= max ? v : `${v} is outside ${min}-${max}`;
});

export const ipv4 = text('an IPv4 address like 192.168.1.10', (s) => (isIPv4(s) ? undefined : `${quote(s)} is not an IPv4 address`));

export const absolutePath = text('an absolute path', (s) => (s.startsWith('/') ? undefined : `${quote(s)} is not an absolute path`));

/** A positive duration string, parsed to milliseconds. */
export const duration = readWith(readDuration);

/** A mark or mask: a number (YAML reads 0x200 as one) or a hex string like "0x3fff". */
export const markValue = readWith((value): number | string => {
  const num = typeof value === 'number' ? value
    : typeof value === 'string' && /^0x[0-9a-f]{1,8}$/i.test(value) ? parseInt(value, 16)
    : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (Number.isInteger(num) && num >= 1 && num <= 0xffffffff) return num;
  return `${describeValue(value)} is not a 32-bit mark like 0x200 (1-0xffffffff)`;
});
