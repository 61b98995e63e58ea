// Human-readable agentctl output: the status table, event lines, rules. Pure; colour only when
// the caller says so (stdout is a TTY and NO_COLOR is unset).

import { formatEndpoint } from '../../config/net.js';
import type { EventRecord } from './events.js';
import type { BackendStatus, Status } from './status.js';

export type Colour = 'green' | 'red' | 'yellow' | 'dim' | 'bold';
const CODES: Record<Colour, [number, number]> = { green: [32, 39], red: [31, 39], yellow: [33, 39], dim: [2, 22], bold: [1, 22] };
type Paint = (text: string, colour: Colour | undefined) => string;
const painter = (colour: boolean): Paint => (text, c) => (colour && c ? `\x1b[${CODES[c][0]}m${text}\x1b[${CODES[c][1]}m` : text);

const HEALTH_COLOUR: Record<BackendStatus['health'], Colour> = { up: 'green', down: 'red', unknown: 'yellow' };
const ADMIN_COLOUR: Record<BackendStatus['admin'], Colour | undefined> = { enabled: undefined, drain: 'yellow', maintenance: 'yellow' };
const vrrpColour = (state: string): Colour | undefined => (state === 'MASTER' ? 'green' : state === 'FAULT' ? 'red' : undefined);

export const formatPercent = (share: number): string => `${(share * 100).toFixed(1)}%`;

export function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return d > 0 ? `${d}d${h}h` : h > 0 ? `${h}h${m}m` : m > 0 ? `${m}m${s}s` : `${s}s`;
}

/** Left-aligned columns, indented two spaces; widths from the plain text so colour codes do not skew them. */
function table(header: readonly string[], rows: readonly { text: string; colour?: Colour | undefined }[][], paint: Paint): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.text.length ?? 0)));
  const line = (cells: readonly { text: string; colour?: Colour | undefined }[]) =>
    '  ' + cells.map((c, i) => (i === cells.length - 1 ? paint(c.text, c.colour) : paint(c.text.padEnd(widths[i]!), c.colour))).join('  ').trimEnd();
  return [line(header.map((h) => ({ text: h, colour: 'dim' as const }))), ...rows.map(line)];
}

function lastCheck(b: BackendStatus): { text: string; colour?: Colour } {
  if (b.admin === 'maintenance') return { text: 'paused (maintenance)', colour: 'dim' };
  const c = b.last_check;
  if (!c) return { text: '-', colour: 'dim' };
  return c.ok ? { text: `ok ${formatMs(c.latency_ms)}` } : { text: `failed ${formatMs(c.latency_ms)}: ${c.message}`, colour: 'red' };
}

export function formatStatus(status: Status, options: { colour: boolean }): string {
  const paint = painter(options.colour);
  const dp = status.dataplane;
  const peers = status.cluster.peers.map((p) => `${p.node} (${p.vrrp})`).join(', ');
  const out = [
    `${paint(`node ${status.node}`, 'bold')}  ha-agent ${status.version}, up ${formatDuration(status.uptime_s)}`,
    `vrrp       ${paint(status.vrrp.state, vrrpColour(status.vrrp.state))}`,
    // bgp: shown only where a speaker runs, so a VRRP pair's table stays as it was.
    ...(status.bgp && status.bgp.state !== 'disabled' ? [`bgp        ${paint(status.bgp.state, status.bgp.state === 'established' ? 'green' : status.bgp.state === 'down' ? 'red' : undefined)}` +
      `; peers: ${status.bgp.peers.map((p) => `${p.address} ${p.state} (bfd ${p.bfd})`).join(', ') || 'none'}; announcing ${status.bgp.announced.join(', ') || 'nothing'}`] : []),
    `cluster    ${status.cluster.state}${peers ? `; peers: ${peers}` : ''}`,
    `dataplane  ${dp.driver}, ${dp.in_sync ? paint('in sync', 'green') : paint('NOT in sync', 'red')}, ${dp.applies} applies` +
      `${dp.last_apply_ms === null ? '' : `, last ${formatMs(dp.last_apply_ms)}`}${dp.apply_errors > 0 ? `, ${dp.apply_errors} errors` : ''}` +
      `${dp.drift_repairs > 0 ? `, ${dp.drift_repairs} drift repairs` : ''}`,
  ];
  if (dp.last_error) out.push(`           last error: ${paint(dp.last_error, 'red')}`);
  // Older agents send no last_drift.
  if (dp.last_drift) out.push(`           last drift repaired ${dp.last_drift.at} (found by ${dp.last_drift.how === 'event' ? 'a kernel event' : 'the sweep'}): ${dp.last_drift.what}`);
  for (const d of status.cluster.admin_disagreements ?? []) {
    const views = Object.entries(d.views).map(([node, admin]) => `${node} ${admin}`).join(', ');
    out.push(`           ${paint(`nodes disagree on ${d.backend}: ${views} (since ${d.since})`, 'red')}`);
  }
  for (const farm of status.farms) {
    const inChain = farm.backends.filter((b) => b.in_chain).length;
    out.push('', `${paint(`farm ${farm.name}`, 'bold')}  ${farm.vip} ${farm.protocol === 'all' ? 'all' : `${farm.protocol}/${farm.ports.join(',')}`}  ${farm.mode}  ${farm.algorithm}  ` +
      `${inChain}/${farm.backends.length} in chain${inChain === 0 ? paint('  (no usable backend: new connections are refused)', 'red') : ''}`);
    const rows = farm.backends.map((b) => [
      { text: b.name },
      // An IPv6 address in brackets, so its colons do not read as the port's.
      { text: formatEndpoint(b.ip, b.port ?? '*') },
      { text: b.health, colour: HEALTH_COLOUR[b.health] },
      { text: b.admin, colour: ADMIN_COLOUR[b.admin] },
      { text: b.effective_weight === b.weight ? String(b.weight) : `${b.weight} (${b.effective_weight})` },
      { text: formatPercent(b.share), colour: b.in_chain ? undefined : 'dim' as const },
      { text: b.mark },
      lastCheck(b),
    ]);
    out.push(...table(['BACKEND', 'ADDRESS', 'HEALTH', 'ADMIN', 'WEIGHT', 'SHARE', 'MARK', 'LAST CHECK'], rows, paint));
    // Clustered with a master or quorum policy, this node may apply a health its own checks do
    // not see; every LB behind ECMP must apply the same one (hash-5tuple), so say where it differs.
    for (const b of farm.backends) {
      const own = b.views?.[status.node];
      if (own === undefined || own === b.health) continue;
      const views = Object.entries(b.views!).map(([node, health]) => `${node} ${health}`).join(', ');
      out.push(paint(`  ${b.name}: this node's checks see it ${own}; the cluster's view applied here is ${b.health} (${views})`, 'yellow'));
    }
  }
  return `${out.join('\n')}\n`;
}

export function formatEvent(event: EventRecord): string {
  switch (event.type) {
    case 'transition':
      return `${event.at}  ${event.farm}/${event.backend}  health ${event.from} -> ${event.to}: ${event.reason}`;
    case 'admin':
      return `${event.at}  ${event.farm}/${event.backend}  admin ${event.from} -> ${event.to}`;
    case 'apply-error':
      return `${event.at}  apply failed: ${event.error}`;
    default: {
      const never: never = event;
      return JSON.stringify(never);
    }
  }
}
