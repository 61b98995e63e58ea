// Connections from chosen client ports, for the tests about what a reused port meets (a flow
// entry left behind, a retransmitted SYN): run with `node -e` in the client's namespace, so the
// ports are the client's own.

import type { Lab } from '../netns/topology.js';

export interface PortClientOptions {
  /** How long each connection may take to be answered before it counts as 'timeout'. */
  readonly timeoutMs: number;
  /** One connection after the other (default: all at once). */
  readonly oneByOne?: boolean;
}

/**
 * Connects to `vip`:`port` from each of `ports` on `host`; for each, what answered: the backend's
 * name (the first line it sends), an error code, or 'timeout'.
 */
export async function connectFromPorts(lab: Lab, host: string, vip: string, port: number, ports: readonly number[], opts: PortClientOptions): Promise<string[]> {
  const script = `const net = require('net');
const one = (p) => new Promise((resolve) => {
  const s = net.connect({ host: ${JSON.stringify(vip)}, port: ${port}, localPort: p });
  let b = '';
  s.setEncoding('utf8');
  s.on('data', (d) => { b += d; if (b.includes('\\n')) { s.destroy(); resolve(b.trim()); } });
  s.on('error', (e) => resolve(e.code));
  setTimeout(() => { s.destroy(); resolve('timeout'); }, ${opts.timeoutMs});
});
(async () => {
  const ports = process.argv.slice(1).map(Number);
  const out = [];
  if (${opts.oneByOne === true}) for (const p of ports) out.push(await one(p));
  else out.push(...await Promise.all(ports.map(one)));
  console.log(out.join(' '));
})();`;
  const r = await lab.exec(host, process.execPath, ['-e', script, ...ports.map(String)], { timeoutMs: opts.timeoutMs * (opts.oneByOne ? ports.length : 1) + 20_000 });
  return r.stdout.trim().split(' ');
}
