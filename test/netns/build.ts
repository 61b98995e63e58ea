// Turns a validated topology into kernel objects: namespaces, a switch namespace with bridges, veths, routes.
import { execa } from 'execa';
import { waitFor } from './poll.js';
import { SWITCH_HOST, linkIfname, type RouteSpec, type TopologySpec } from './spec.js';

const IP_TIMEOUT_MS = 10_000;

/** Runs `ip ARGS` with a bound; throws with the command and stderr on failure. */
export async function ip(args: readonly string[]): Promise<string> {
  const r = await execa('ip', args, { timeout: IP_TIMEOUT_MS, reject: false, stdin: 'ignore' });
  if (r.failed) throw new Error(`ip ${args.join(' ')} failed: ${String(r.stderr).trim() || r.shortMessage}`);
  return String(r.stdout);
}

export function nsNameFor(prefix: string, host: string): string {
  return `${prefix}-${host}`;
}

/** `ip route` arguments for a route spec, with `dev` mapped from bridge name to interface. */
export function routeArgs(route: RouteSpec, devName: (bridge: string) => string): string[] {
  const args = [route.to];
  if (route.via !== undefined) args.push('via', route.via);
  if (route.dev !== undefined) args.push('dev', devName(route.dev));
  return args;
}

/** Switch-side veth name: readable when it fits in 15 chars, indexed otherwise. */
function switchPortName(host: string, bridge: string, h: number, l: number): string {
  const readable = `${host}-${bridge}`;
  return readable.length <= 15 ? readable : `v${h}-${l}`;
}

/**
 * Creates everything for `spec`. `onNamespace` is called before each `ip netns add`, so the
 * caller can delete it even if creation fails halfway.
 */
export async function buildTopology(
  spec: TopologySpec,
  prefix: string,
  onNamespace: (ns: string) => void,
): Promise<void> {
  const sw = nsNameFor(prefix, SWITCH_HOST);
  onNamespace(sw);
  await ip(['netns', 'add', sw]);
  await ip(['-n', sw, 'link', 'set', 'lo', 'up']);
  for (const bridge of spec.bridges) {
    // STP stays off (the default) so ports forward at once instead of after forward_delay.
    await ip(['-n', sw, 'link', 'add', 'name', bridge, 'type', 'bridge']);
    await ip(['-n', sw, 'link', 'set', bridge, 'up']);
  }

  for (const [h, host] of spec.hosts.entries()) {
    const ns = nsNameFor(prefix, host.name);
    onNamespace(ns);
    await ip(['netns', 'add', ns]);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const [l, link] of host.links.entries()) {
      const inner = link.ifname ?? link.bridge;
      const outer = switchPortName(host.name, link.bridge, h, l);
      // Both ends are created from inside the switch namespace, so nothing appears in the root one.
      await ip(['-n', sw, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', inner, 'netns', ns]);
      await ip(['-n', sw, 'link', 'set', outer, 'master', link.bridge, 'up']);
      await ip(['-n', ns, 'addr', 'add', link.address, 'dev', inner]);
      await ip(['-n', ns, 'link', 'set', inner, 'up']);
    }
    if (host.forwarding) {
      await execa('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'], { timeout: IP_TIMEOUT_MS });
    }
    for (const route of host.routes ?? []) {
      await ip(['-n', ns, 'route', 'replace', ...routeArgs(route, (b) => linkIfname(host, b))]);
    }
  }

  await waitLinksUp(spec, prefix);
}

/** Bounded wait until every host interface has carrier, so the first test packet is not lost. */
async function waitLinksUp(spec: TopologySpec, prefix: string): Promise<void> {
  for (const host of spec.hosts) {
    const ns = nsNameFor(prefix, host.name);
    for (const link of host.links) {
      const dev = link.ifname ?? link.bridge;
      await waitFor(
        async () => (await ip(['-n', ns, '-o', 'link', 'show', 'dev', dev])).includes('LOWER_UP'),
        { timeoutMs: 3000, intervalMs: 20, what: `${dev} up in ${ns}` },
      );
    }
  }
}
