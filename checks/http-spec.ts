// What one http/https check config fixes for all its checks, prepared once per probe: the request
// bytes per backend (what Node's http module sent for the same check), the TLS context and the
// sessions to resume, the body regex, and the messages' fixed parts.

import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { CheckConfig } from '../config/schema.js';
import { describeError } from './errors.js';
import type { HttpTls } from './http-connector.js';
import type { CheckTarget } from './types.js';

export type HttpCheckConfig = Extract<CheckConfig, { type: 'http' | 'https' }>;

interface StatusRange { readonly from: number; readonly to: number }

/** `200-399`, `200,204`: how the expected statuses read in messages. */
export function formatStatusRanges(ranges: readonly StatusRange[]): string {
  return ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(',');
}

export function statusMatches(status: number, ranges: readonly StatusRange[]): boolean {
  return ranges.some((r) => status >= r.from && status <= r.to);
}

/** Messages per backend, built once: a result outlives the young generation (see checks/tcp.ts). */
export interface Wording {
  readonly prefix: string;
  status: number;
  message: string;
}

/** What one check config fixes for all its checks: built once per probe. */
export class Spec {
  readonly label: string;
  readonly bodyRe: RegExp | undefined;
  readonly expected: string;
  readonly head: boolean;
  private tlsState: HttpTls | Error | undefined;
  private readonly requests = new WeakMap<CheckTarget, Buffer | Error>();
  private readonly wordings = new WeakMap<CheckTarget, Wording>();

  constructor(readonly check: HttpCheckConfig) {
    this.label = check.type.toUpperCase();
    this.bodyRe = check.expect_body === undefined ? undefined : new RegExp(check.expect_body);
    this.expected = formatStatusRanges(check.expect_status);
    this.head = check.method === 'HEAD';
  }

  wording(target: CheckTarget): Wording {
    let w = this.wordings.get(target);
    if (w === undefined) {
      const { check } = this;
      // Flattened now, so every later use shares one string.
      const prefix = `${this.label} ${check.method} ${check.type}://${target.ip}:${target.port}${check.path}: `;
      w = { prefix, status: 0, message: '' };
      this.wordings.set(target, w);
    }
    return w;
  }

  request(target: CheckTarget): Buffer | Error {
    let request = this.requests.get(target);
    if (request === undefined) this.requests.set(target, (request = buildRequest(this.check, target)));
    return request;
  }

  /** The TLS settings, the CA read on first use (once per config, as a reload brings new configs). */
  tls(): HttpTls | Error | undefined {
    const { check } = this;
    if (check.type !== 'https') return undefined;
    if (this.tlsState !== undefined) return this.tlsState;
    let ca: Buffer | undefined;
    if (check.tls.ca !== undefined) {
      try {
        ca = readFileSync(check.tls.ca);
      } catch (err) {
        return (this.tlsState = new Error(`CA file ${check.tls.ca}: ${describeError(err)}`));
      }
    }
    let context: tls.SecureContext;
    try {
      context = tls.createSecureContext(ca ? { ca } : {});
    } catch (err) {
      return (this.tlsState = new Error(`CA file ${check.tls.ca}: ${describeError(err)}`));
    }
    return (this.tlsState = { servername: serverName(check), verify: check.tls.verify, context, sessions: new WeakMap() });
  }
}

/** SNI: the configured name, else the Host header's name; never an IP (RFC 6066 forbids it). */
function serverName(check: HttpCheckConfig): string | undefined {
  const name = check.tls.sni ?? check.host?.replace(/:\d+$/, '');
  return name === undefined || net.isIP(name) !== 0 ? undefined : name;
}

/** Node's http module refuses the same characters, with the same words. */
const INVALID_PATH = /[^\u0021-\u00ff]/;
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** The request bytes for one backend: what Node's http module sent for the same check. */
export function buildRequest(check: HttpCheckConfig, target: CheckTarget): Buffer | Error {
  const host = check.host ?? (net.isIPv6(target.ip) ? `[${target.ip}]:${target.port}` : `${target.ip}:${target.port}`);
  if (INVALID_PATH.test(check.path)) return new Error('Request path contains unescaped characters');
  if (INVALID_HEADER_VALUE.test(host)) return new Error('Invalid character in header content ["host"]');
  const length = check.method === 'POST' ? 'content-length: 0\r\n' : '';
  return Buffer.from(`${check.method} ${check.path} HTTP/1.1\r\nhost: ${host}\r\nuser-agent: ha-agent health check\r\n`
    + `accept: */*\r\nconnection: close\r\n${length}\r\n`, 'latin1');
}
