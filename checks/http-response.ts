// Reads an HTTP/1.x response as far as a check needs it, from chunks as they arrive: the status
// line, then (only when the body is to be matched) the headers and at most BODY_LIMIT bytes of
// body, framed by Content-Length, chunked coding or the end of the connection. Pure: bytes in,
// a step out. The native engine reads the status line by the same rule (native/http_check.c).

import { CLOSED_EARLY, MALFORMED_STATUS, type HttpBody } from './http-connector.js';

/** The most body the regex is matched against; the rest is never read. */
export const BODY_LIMIT = 64 * 1024;
/** A longer status line is malformed (native/http_check.c MAX_STATUS_LINE). */
export const STATUS_LINE_LIMIT = 1024;
/** Status line and headers together, as Node's own parser allows (--max-http-header-size). */
export const HEAD_LIMIT = 16 * 1024;

/** Where the reading ended: a status (and body when asked for), or a failure. */
export type ReadStep = { readonly status: number; readonly body?: HttpBody; readonly failure?: undefined }
  | { readonly status?: undefined; readonly failure: string };

const STATUS_LINE = /^HTTP\/\d\.\d ([1-9]\d\d)(?:[ \r]|$)/;

/** The status of one status line (without its LF), or undefined when it is malformed. */
export function parseStatusLine(line: string): number | undefined {
  const m = STATUS_LINE.exec(line);
  return m ? Number(m[1]) : undefined;
}

type Phase = 'status' | 'headers' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'eof' | 'done';

export class ResponseReader {
  private phase: Phase = 'status';
  private pending: Buffer | undefined;
  private headBytes = 0;
  private status = 0;
  private contentLength = -1;
  private chunked = false;
  /** Body bytes still expected: of the whole body (length) or of the current chunk. */
  private remaining = 0;
  private readonly body: Buffer[] = [];
  private bodySize = 0;

  /**
   * `wantsBody(status)`: whether to read on after the status line; `head`: a HEAD request,
   * whose answer has no body.
   */
  constructor(private readonly wantsBody: (status: number) => boolean, private readonly head: boolean) {}

  /** Takes the next chunk: the step once the check has what it needs, else undefined. */
  push(chunk: Buffer): ReadStep | undefined {
    if (this.phase === 'done') return undefined;
    let data = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    for (;;) {
      const step = this.step(data);
      if (step === undefined) return undefined;
      if ('failure' in step || 'status' in step) {
        this.phase = 'done';
        return step as ReadStep;
      }
      data = step.rest;
    }
  }

  /** The connection ended: the step it makes. */
  end(): ReadStep {
    if (this.phase === 'done') return { failure: 'ended twice' };
    const phase = this.phase;
    this.phase = 'done';
    switch (phase) {
      case 'status':
        return { failure: CLOSED_EARLY };
      case 'headers':
        return { failure: 'closed before the end of the headers' };
      case 'eof':
        return this.judged();
      default:
        return { failure: 'closed before the end of the body' };
    }
  }

  /** Consumes what it can of `data`: a final step, `{ rest }` to go on, or undefined for more data. */
  private step(data: Buffer): ReadStep | { rest: Buffer } | undefined {
    switch (this.phase) {
      case 'status':
      case 'headers':
      case 'chunk-size':
      case 'chunk-end':
        return this.line(data);
      case 'length':
      case 'chunk-data':
      case 'eof':
        return this.bodyBytes(data);
      case 'done':
        return undefined;
    }
  }

  private line(data: Buffer): ReadStep | { rest: Buffer } | undefined {
    const lf = data.indexOf(10);
    const limit = this.phase === 'status' ? STATUS_LINE_LIMIT : HEAD_LIMIT - this.headBytes;
    if (lf < 0) {
      if (this.phase === 'status' && data.length >= limit) return { failure: MALFORMED_STATUS };
      if (this.phase === 'headers' && data.length >= limit) return { failure: `headers larger than ${HEAD_LIMIT / 1024} KiB` };
      if (data.length > HEAD_LIMIT) return { failure: 'malformed chunked body' };
      this.pending = data;
      return undefined;
    }
    if (this.phase === 'status' && lf + 1 > limit) return { failure: MALFORMED_STATUS };
    if (this.phase === 'headers' && lf + 1 > limit) return { failure: `headers larger than ${HEAD_LIMIT / 1024} KiB` };
    const text = data.toString('latin1', 0, lf).replace(/\r$/, '');
    const rest = data.subarray(lf + 1);
    switch (this.phase) {
      case 'status': {
        const status = parseStatusLine(text);
        if (status === undefined) return { failure: MALFORMED_STATUS };
        if (!this.wantsBody(status)) return { status };
        this.status = status;
        this.headBytes = lf + 1;
        this.phase = 'headers';
        return { rest };
      }
      case 'headers':
        this.headBytes += lf + 1;
        return text === '' ? this.startBody(rest) : this.header(text, rest);
      case 'chunk-size': {
        const size = /^([0-9a-fA-F]{1,8})[ \t]*(?:;.*)?$/.exec(text);
        if (!size) return { failure: 'malformed chunked body' };
        this.remaining = parseInt(size[1]!, 16);
        if (this.remaining === 0) return this.judged();
        this.phase = 'chunk-data';
        return { rest };
      }
      default:
        // The CRLF after a chunk's data.
        if (text !== '') return { failure: 'malformed chunked body' };
        this.phase = 'chunk-size';
        return { rest };
    }
  }

  private header(text: string, rest: Buffer): ReadStep | { rest: Buffer } {
    const colon = text.indexOf(':');
    if (colon <= 0) return { failure: 'malformed header line' };
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || (this.contentLength >= 0 && Number(value) !== this.contentLength)) {
        return { failure: 'malformed content-length' };
      }
      this.contentLength = Number(value);
    } else if (name === 'transfer-encoding') {
      // The last coding decides (RFC 9112 6.3): chunked last means chunked framing.
      this.chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
    }
    return { rest };
  }

  private startBody(rest: Buffer): ReadStep | { rest: Buffer } {
    const s = this.status;
    // RFC 9112 6.3: no body after HEAD, 1xx, 204 and 304, whatever the headers say.
    if (this.head || s < 200 || s === 204 || s === 304) return this.judged();
    if (this.chunked) this.phase = 'chunk-size';
    else if (this.contentLength >= 0) {
      if (this.contentLength === 0) return this.judged();
      this.remaining = this.contentLength;
      this.phase = 'length';
    } else this.phase = 'eof';
    return { rest };
  }

  private bodyBytes(data: Buffer): ReadStep | { rest: Buffer } | undefined {
    if (data.length === 0) return undefined;
    const take = this.phase === 'eof' ? data.length : Math.min(this.remaining, data.length);
    this.body.push(data.subarray(0, take));
    this.bodySize += take;
    if (this.bodySize >= BODY_LIMIT) return this.judged();
    if (this.phase === 'eof') return undefined;
    this.remaining -= take;
    if (this.remaining > 0) return undefined;
    if (this.phase === 'length') return this.judged();
    this.phase = 'chunk-end';
    return { rest: data.subarray(take) };
  }

  private judged(): ReadStep {
    const all = Buffer.concat(this.body, this.bodySize);
    const cut = this.bodySize >= BODY_LIMIT;
    return { status: this.status, body: { text: all.subarray(0, BODY_LIMIT).toString('utf8'), cut } };
  }
}
