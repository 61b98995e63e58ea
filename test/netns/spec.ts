// Declarative topology model: the shape of a lab and its validation, before anything touches the kernel.
import { z } from 'zod';

/** Host name reserved for the namespace holding the bridges. */
export const SWITCH_HOST = 'sw';

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const ipv4 = z.string().regex(IPV4, 'is not an IPv4 address');
const cidr = z.string().refine((s) => {
  const [ip, len, extra] = s.split('/');
  return extra === undefined && ip !== undefined && IPV4.test(ip) && len !== undefined && /^\d+$/.test(len) && Number(len) <= 32;
}, 'is not an IPv4 CIDR like 10.1.0.2/24');
// Kernel interface names are at most 15 bytes (IFNAMSIZ - 1).
const ifname = z.string().regex(/^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$/, 'is not a valid interface name (max 15 chars)');
// Host names become part of namespace names; short keeps `ip netns list` readable.
const hostName = z
  .string()
  .regex(/^[a-z][a-z0-9]{0,9}$/, 'must be 1-10 lowercase letters/digits starting with a letter')
  .refine((n) => n !== SWITCH_HOST, `"${SWITCH_HOST}" is reserved for the switch namespace`);

const linkSchema = z.object({
  bridge: ifname,
  address: cidr,
  /** Interface name inside the host; defaults to the bridge name. */
  ifname: ifname.optional(),
});

const routeSchema = z.object({
  /** 'default' or a CIDR. */
  to: z.union([z.literal('default'), cidr]),
  via: ipv4.optional(),
  /** Bridge name whose interface to use; needed only for on-link routes without `via`. */
  dev: ifname.optional(),
});

const hostSchema = z.object({
  name: hostName,
  links: z.array(linkSchema),
  routes: z.array(routeSchema).optional(),
  forwarding: z.boolean().optional(),
});

const topologySchema = z
  .object({ hosts: z.array(hostSchema).min(1), bridges: z.array(ifname) })
  .superRefine((spec, ctx) => {
    const bridges = new Set(spec.bridges);
    const names = new Set<string>();
    spec.hosts.forEach((host, h) => {
      if (names.has(host.name)) ctx.addIssue({ code: 'custom', path: ['hosts', h, 'name'], message: `duplicate host "${host.name}"` });
      names.add(host.name);
      const ifnames = new Set<string>();
      host.links.forEach((link, l) => {
        if (!bridges.has(link.bridge)) {
          ctx.addIssue({ code: 'custom', path: ['hosts', h, 'links', l, 'bridge'], message: `unknown bridge "${link.bridge}"` });
        }
        const name = link.ifname ?? link.bridge;
        if (ifnames.has(name)) {
          ctx.addIssue({ code: 'custom', path: ['hosts', h, 'links', l], message: `duplicate interface "${name}" (set ifname)` });
        }
        ifnames.add(name);
      });
      host.routes?.forEach((route, r) => {
        if (route.via === undefined && route.dev === undefined) {
          ctx.addIssue({ code: 'custom', path: ['hosts', h, 'routes', r], message: 'needs via or dev' });
        }
        if (route.dev !== undefined && !host.links.some((l) => l.bridge === route.dev)) {
          ctx.addIssue({ code: 'custom', path: ['hosts', h, 'routes', r, 'dev'], message: `host has no link on bridge "${route.dev}"` });
        }
      });
    });
  });

export type LinkSpec = z.infer<typeof linkSchema>;
export type RouteSpec = z.infer<typeof routeSchema>;
export type HostSpec = z.infer<typeof hostSchema>;
export type TopologySpec = z.infer<typeof topologySchema>;

/** Validates a spec, throwing one error that lists every problem as `path: message`. */
export function parseTopology(input: unknown): TopologySpec {
  const result = topologySchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new Error(`invalid topology:\n  ${lines.join('\n  ')}`);
}

/** The interface name a host uses for its link on `bridge`. */
export function linkIfname(host: HostSpec, bridge: string): string {
  const link = host.links.find((l) => l.bridge === bridge);
  if (!link) throw new Error(`host "${host.name}" has no link on bridge "${bridge}"`);
  return link.ifname ?? link.bridge;
}
