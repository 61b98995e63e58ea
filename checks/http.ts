// HTTP(S) probe: one request per check, status against ranges, optional body regex.

import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { CheckConfig } from '../config/schema.js';
import { ABORTED, describeError } from './errors.js';
import type { CheckResult, CheckTarget, Probe } from './types.js';

export type HttpCheckConfig = Extract<CheckConfig, { type: 'http' | 'https' }>;

/** The most body the regex is matched against; the rest is never read. */
export const BODY_LIMIT = 64 * 1024;

interface StatusRange { readonly from: number; readonly to: number }

/** `200-399`, `200,204`: how the expected statuses read in messages. */
export function formatStatusRanges(ranges: readonly StatusRange[]): string {
  return ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(',');
}

export function statusMatches(status: number, ranges: readonly StatusRange[]): boolean {
  return ranges.some((r) => status >= r.from && status <= r.to);
}

/** Builds the probe for one http/https check config: the regex and CA are prepared once per probe. */
export function httpProbe(check: HttpCheckConfig): Probe {
  const bodyRe = check.expect_body === undefined ? undefined : new RegExp(check.expect_body);
  const expected = formatStatusRanges(check.expect_status);
  const label = check.type.toUpperCase();
  // Read once per config (the scheduler builds one probe per config object, shared by the farm's
  // backends; a reload brings new objects, hence new probes), not once per request.
  let ca: Promise<Buffer | Error> | undefined;
  const loadCa = (file: string): Promise<Buffer | Error> =>
    (ca ??= readFile(file).catch((err: unknown) => new Error(`CA file ${file}: ${describeError(err)}`)));

  return async (target, timeoutMs, signal) => {
    const started = performance.now();
    const where = `${label} ${check.method} ${check.type}://${target.ip}:${target.port}${check.path}`;
    let caBytes: Buffer | undefined;
    if (check.type === 'https' && check.tls.ca !== undefined) {
      const loaded = await loadCa(check.tls.ca);
      if (loaded instanceof Error) return { ok: false, message: `${where}: ${loaded.message}`, latencyMs: 0 };
      caBytes = loaded;
    }
    return request(check, target, timeoutMs, signal, { where, started, expected, bodyRe, caBytes });
  };
}

interface RequestContext {
  readonly where: string;
  readonly started: number;
  readonly expected: string;
  readonly bodyRe: RegExp | undefined;
  readonly caBytes: Buffer | undefined;
}

function request(check: HttpCheckConfig, target: CheckTarget, timeoutMs: number, signal: AbortSignal | undefined,
  ctx: RequestContext): Promise<CheckResult> {
  return new Promise<CheckResult>((resolve) => {
    if (signal?.aborted) {
      resolve({ ok: false, message: `${ctx.where}: ${ABORTED}`, latencyMs: 0 });
      return;
    }
    let raw: net.Socket | undefined;
    let top: net.Socket | undefined;
    let req: http.ClientRequest | undefined;
    let done = false;
    const finish = (ok: boolean, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      closeWithReset(raw, top);
      req?.destroy();
      resolve({ ok, message: `${ctx.where}: ${detail}`, latencyMs: performance.now() - ctx.started });
    };
    const onAbort = (): void => finish(false, ABORTED);
    // The whole exchange must fit in the timeout, not just each pause between packets.
    const timer = setTimeout(() => finish(false, `timed out after ${timeoutMs} ms`), timeoutMs);

    const hostHeader = check.host ?? `${target.ip}:${target.port}`;
    const options: http.RequestOptions = {
      method: check.method,
      path: check.path,
      headers: { host: hostHeader, 'user-agent': 'ha-agent health check', accept: '*/*', connection: 'close' },
      // Our own connection and no agent: no pooling, no keep-alive, and the raw TCP socket at
      // hand so it can be closed with a reset.
      createConnection: () => {
        raw = net.connect({ host: target.ip, port: target.port });
        raw.on('error', () => undefined);
        if (check.type === 'http') return (top = raw);
        return (top = tls.connect({
          socket: raw,
          host: target.ip,
          servername: serverName(check),
          rejectUnauthorized: check.tls.verify,
          ...(ctx.caBytes ? { ca: ctx.caBytes } : {}),
        }));
      },
    };
    try {
      req = (check.type === 'https' ? https : http).request(options);
    } catch (err) {
      // A bad port or header throws synchronously; it is still just a failed check.
      finish(false, describeError(err));
      return;
    }
    req.on('error', (err) => finish(false, describeError(err)));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.on('error', (err) => finish(false, describeError(err)));
      if (!statusMatches(status, check.expect_status)) return finish(false, `status ${status} not in ${ctx.expected}`);
      const bodyRe = ctx.bodyRe;
      if (!bodyRe) return finish(true, `status ${status}`);
      const chunks: Buffer[] = [];
      let size = 0;
      const judge = (): void => {
        const body = Buffer.concat(chunks, size).subarray(0, BODY_LIMIT).toString('utf8');
        const scope = size >= BODY_LIMIT ? ` in the first ${BODY_LIMIT / 1024} KiB` : '';
        if (bodyRe.test(body)) finish(true, `status ${status}, body matches /${bodyRe.source}/`);
        else finish(false, `status ${status}, body does not match /${bodyRe.source}/${scope}`);
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= BODY_LIMIT) judge();
      });
      res.on('end', judge);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}

/** SNI: the configured name, else the Host header's name; never an IP (RFC 6066 forbids it). */
function serverName(check: HttpCheckConfig): string | undefined {
  const name = check.tls.sni ?? check.host?.replace(/:\d+$/, '');
  return name === undefined || net.isIP(name) !== 0 ? undefined : name;
}

/**
 * Resets rather than closes, as the TCP probe does: no TIME_WAIT left on the load balancer.
 * Once a shutdown has begun (the server closed first after `connection: close`, and Node
 * answered with its own FIN) a reset is refused with EINVAL, and Node 20 then spins on the
 * socket; but then the server closed first and holds the TIME_WAIT, so a plain destroy is right.
 */
function closeWithReset(raw: net.Socket | undefined, top: net.Socket | undefined): void {
  if (!raw || !top || top.destroyed) return;
  // Still connecting: nothing to reset, and resetAndDestroy would wait for the connect.
  if (raw.connecting || top.writableEnded || raw.writableEnded || raw.destroyed) {
    top.destroy();
    return;
  }
  try {
    raw.resetAndDestroy();
  } catch {
    top.destroy();
  }
}
