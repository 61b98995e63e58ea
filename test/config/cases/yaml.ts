// Builders for small config texts: each case shows only the YAML it changes.

/** A YAML flow mapping from raw YAML snippets; an undefined value drops the key. */
export function map(fields: Readonly<Record<string, string | undefined>>): string {
  const pairs = Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`);
  return `{ ${pairs.join(', ')} }`;
}

export const backend = (over: Record<string, string | undefined> = {}): string =>
  map({ name: 'a0', ip: '10.0.0.1', port: '80', ...over });

/** A valid farm: app on 192.0.2.10:80 with one backend. */
export const farm = (over: Record<string, string | undefined> = {}): string =>
  map({ name: 'app', vip: '192.0.2.10', ports: '[80]', backends: `[${backend()}]`, ...over });

/** A whole config: node lb1, the given farms (block list), then `extra` top-level YAML. */
export const config = (farms: readonly string[], extra = ''): string =>
  `node: { id: lb1 }\nfarms:\n${farms.map((f) => `  - ${f}\n`).join('')}${extra}`;

export const vrrp = (over: Record<string, string | undefined> = {}): string =>
  `vrrp: ${map({ interface: 'eth0', virtual_router_id: '51', priority: '150', ...over })}\n`;
