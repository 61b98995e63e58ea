// The HTTP listener on control.metrics (host:port), when configured: Prometheus metrics at
// /metrics, and a read-only status page at / with the data it shows at /status.json (the same
// document as `agentctl status --json`, from the same status source) and /events.json (the
// recent transitions, as `agentctl events --json`). Nothing here changes the agent. /metrics is
// streamed (chunked) rather than sent with a length: at 10k backends it is megabytes.

import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MetricsPorts } from '../daemon/ports.js';
import { parseListen } from '../../config/net.js';
import { toEventRecord } from '../control/events.js';
import { HISTORY_SIZE } from '../engine/history.js';
import { AgentMetrics } from './registry.js';
import { registerLimitMetrics } from './kernel-counters.js';
import { PAGE_CSP, PAGE_HTML } from './page.js';

/** Transitions /events.json returns unless asked (`?n=`): the page shows these. */
export const PAGE_EVENTS = 50;

/** On every answer: live data is never cached, and no answer is read as another type. */
const COMMON_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const;
const PAGE_HEADERS = {
  ...COMMON_HEADERS,
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': PAGE_CSP,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;
const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

export interface MetricsServer {
  /** The port it listens on (the one asked, or the kernel's pick for port 0). */
  readonly port: number;
  stop(): Promise<void>;
}

export async function startMetrics(ports: MetricsPorts, listen: string): Promise<MetricsServer> {
  const metrics = new AgentMetrics();
  if (ports.overLimits) registerLimitMetrics(metrics.registry, { read: ports.overLimits, logger: ports.logger });
  const unsubscribe = ports.events.on((event) => metrics.observe(event));
  // The listener starts after the first transaction (and, with nothing to change, there may be no
  // other for a long time): its duration goes into the histogram too, so the count agrees with
  // ha_agent_applies_total from the start.
  const startup = ports.status.status().dataplane.last_apply_ms;
  if (startup !== null) metrics.observeApplyDuration(startup / 1000);
  const send = (res: ServerResponse, head: boolean, status: number, headers: Record<string, string>, body: string): void => {
    res.writeHead(status, { ...COMMON_HEADERS, ...headers, 'content-length': String(Buffer.byteLength(body)) }).end(head ? undefined : body);
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      send(res, false, 405, { allow: 'GET, HEAD', 'content-type': TEXT_TYPE }, 'method not allowed: this listener is read-only\n');
      return;
    }
    switch (url.pathname) {
      case '/':
        send(res, head, 200, PAGE_HEADERS, PAGE_HTML);
        return;
      case '/status.json':
        // Compact: the page fetches it every few seconds, and with a thousand backends indenting doubles it.
        send(res, head, 200, { 'content-type': JSON_TYPE }, `${JSON.stringify(ports.status.status())}\n`);
        return;
      case '/events.json': {
        const asked = Number(url.searchParams.get('n') ?? PAGE_EVENTS);
        const n = Number.isInteger(asked) && asked >= 0 ? Math.min(asked, HISTORY_SIZE) : PAGE_EVENTS;
        send(res, head, 200, { 'content-type': JSON_TYPE }, `${JSON.stringify(ports.events.recentEvents(n).map(toEventRecord))}\n`);
        return;
      }
      case '/metrics':
        if (head) {
          res.writeHead(200, { ...COMMON_HEADERS, 'content-type': metrics.contentType }).end();
          return;
        }
        metrics.scrapeParts(ports.status.status(), ports.notify?.stats()).then(
          (parts) => {
            // Streamed, a farm at a time, as the client reads: a scrape of thousands of backends
            // never holds its whole text in memory nor blocks the checks while it is written.
            res.writeHead(200, { ...COMMON_HEADERS, 'content-type': metrics.contentType });
            pipeline(Readable.from(parts, { objectMode: false, highWaterMark: 64 * 1024 }), res).catch((err: Error) => {
              if (err.name !== 'AbortError' && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') ports.logger.error({ err: err.message }, 'sending metrics failed');
            });
          },
          (err: Error) => {
            ports.logger.error({ err: err.message }, 'rendering metrics failed');
            send(res, false, 500, { 'content-type': TEXT_TYPE }, 'metrics unavailable\n');
          },
        );
        return;
      default:
        send(res, head, 404, { 'content-type': TEXT_TYPE }, 'not found: the status page is at /, metrics at /metrics, the status at /status.json\n');
    }
  });
  server.maxConnections = 64;
  server.requestTimeout = 10_000;
  const { host, port } = parseListen(listen);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    unsubscribe();
    throw new Error(`cannot serve metrics on ${listen}: ${(err as Error).message}`);
  }
  server.on('error', (err) => ports.logger.error({ err: err.message }, 'metrics server error'));
  ports.logger.info({ listen }, 'metrics at /metrics, status page at /');
  return {
    port: (server.address() as AddressInfo).port,
    async stop() {
      unsubscribe();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
