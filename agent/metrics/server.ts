// GET /metrics on control.metrics (host:port) when configured; nothing else is served.

import { createServer } from 'node:http';
import type { MetricsPorts } from '../daemon/ports.js';
import { parseListen } from '../../config/net.js';
import { AgentMetrics } from './registry.js';

export async function startMetrics(ports: MetricsPorts, listen: string): Promise<{ stop(): Promise<void> }> {
  const metrics = new AgentMetrics();
  const unsubscribe = ports.events.on((event) => metrics.observe(event));
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    metrics.scrape(ports.status.status()).then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (err: Error) => {
        ports.logger.error({ err: err.message }, 'rendering metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
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
  ports.logger.info({ listen }, 'metrics at /metrics');
  return {
    async stop() {
      unsubscribe();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
