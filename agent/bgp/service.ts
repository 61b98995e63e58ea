// The daemon's BGP service: keeps the announced-route include files equal to the VIPs this LB
// should attract (announce.ts), BIRD told of every change, the liveness prefix fresh, and in
// spawn mode BIRD itself running (speaker.ts). External mode writes the include files only and
// asks the operator's BIRD to re-read them.

import type { Config } from '../../config/schema.js';
import { bgpAdvice } from '../../config/bgp.js';
import { ipFamily, type IpFamily } from '../../config/net.js';
import type { BgpPorts } from '../daemon/ports.js';
import { ExecaRunner, type Runner } from '../apply/runner.js';
import { renderAnnounced, renderBird, vipPrefix } from '../render/bird.js';
import { writeFileAtomic } from '../state/atomic-write.js';
import { serialQueue } from '../util/serial.js';
import type { SpawnFn } from '../vrrp/supervisor.js';
import { startAlive } from './alive.js';
import { announcedVips } from './announce.js';
import { bgpStatus, type BgpStatus } from './bird-status.js';
import { bgpPaths } from './paths.js';
import { startSpeaker, type Speaker } from './speaker.js';

export interface BgpService {
  /** `agentctl node drain` (true) / `enable` (false): withdraw every VIP / announce them again. */
  setDrained(drained: boolean): Promise<void>;
  readonly drained: boolean;
  /** The prefixes announced now. */
  announced(): readonly string[];
  /** The status block, as BIRD last reported its sessions (read every few seconds). */
  status(): BgpStatus;
  reconfigure(config: Config): void;
  /** `withdraw`: everything withdrawn now (BIRD stopped); otherwise the announcements stay. */
  stop(how?: 'keep' | 'withdraw'): Promise<void>;
}

/** The address this node uses towards `peer` (`ip route get`), the default router id. */
export async function sourceTowards(runner: Runner, peer: string): Promise<string | undefined> {
  const r = await runner.run('ip', ['-j', 'route', 'get', peer], { timeoutMs: 2000 });
  if (r.exitCode !== 0) return undefined;
  try {
    const routes = JSON.parse(r.stdout) as { prefsrc?: string }[];
    return routes[0]?.prefsrc;
  } catch {
    return undefined;
  }
}

/** How often BIRD's session states are read for status. */
const STATUS_EVERY_MS = 2000;

const familiesOf = (config: Config): IpFamily[] => [...new Set(config.farms.map((f) => ipFamily(f.vip)))].sort();

export async function startBgp(ports: BgpPorts, runner: Runner = new ExecaRunner(), spawn?: SpawnFn): Promise<BgpService> {
  const first = ports.config.config();
  const bgp = first.bgp;
  if (!bgp) throw new Error('startBgp needs a bgp section');
  const logger = ports.logger.child({ component: 'bgp' });
  const paths = bgpPaths(first);
  const routerId = bgp.router_id ?? await sourceTowards(runner, bgp.peers[0]!.address);
  if (!routerId) throw new Error(`no router_id given and no route to the first peer ${bgp.peers[0]!.address} to take one from`);

  let drained = false;
  let current: string[] = [];
  const written = new Map<string, string>();
  const write = async (path: string, text: string): Promise<boolean> => {
    if (written.get(path) === text) return false;
    await writeFileAtomic(path, text);
    written.set(path, text);
    return true;
  };
  const renderConf = (config: Config): string | undefined => (config.bgp && config.bgp.speaker.mode === 'spawn'
    ? renderBird({ nodeId: config.node.id, bgp: config.bgp, routerId: config.bgp.router_id ?? routerId, include: paths.include }) : undefined);
  const writeIncludes = async (vips: readonly string[]): Promise<boolean> => {
    const changed = await Promise.all((['ipv4', 'ipv6'] as const).map((f) => write(paths.include[f], renderAnnounced(vips, f))));
    return changed.some(Boolean);
  };

  const alive = startAlive(runner, logger, familiesOf(first).length > 0 ? familiesOf(first) : ['ipv4']);
  await alive.refresh();
  current = announcedVips(ports.desired(), drained);
  await writeIncludes(current);
  const conf = renderConf(first);
  if (conf !== undefined) await write(paths.birdConf, conf);
  let speaker: Speaker | undefined;
  if (bgp.speaker.mode === 'spawn') speaker = await startSpeaker(bgp.speaker.binary, bgp.speaker.birdc, paths, runner, logger, spawn);
  const configure = async (): Promise<void> => {
    if (speaker) await speaker.configure();
    else {
      const r = await runner.run(bgp.speaker.birdc, ['-s', paths.socket, 'configure'], { timeoutMs: 5000 });
      if (r.exitCode !== 0) logger.error({ socket: paths.socket, stderr: r.stderr.trim() }, 'the operator\'s BIRD did not re-read the announced routes');
    }
  };
  if (bgp.speaker.mode === 'external') await configure();
  logger.info({ announced: current, mode: bgp.speaker.mode, routerId }, 'announcing the VIPs with BGP');
  for (const advice of bgpAdvice(first)) logger.warn(advice);

  // One update at a time, each from the latest desired state: bursts of engine events coalesce.
  const queue = serialQueue();
  let pending = false;
  const update = (): Promise<void> => {
    if (pending) return Promise.resolve();
    pending = true;
    return queue.run(async () => {
      pending = false;
      const next = announcedVips(ports.desired(), drained);
      if (next.join() === current.join()) return;
      const before = current;
      current = next;
      if (await writeIncludes(next)) await configure();
      logger.info({ announced: next, before }, 'BGP announcements changed');
    }).catch((err: Error) => logger.error({ err: err.message }, 'updating the BGP announcements failed'));
  };
  const unsubscribe = ports.events.on(() => void update());

  // Status is read synchronously (agentctl status, /metrics): keep BIRD's answer fresh off-line.
  const ask = async (what: string[]): Promise<string> => {
    const r = await runner.run(bgp.speaker.birdc, ['-s', paths.socket, ...what], { timeoutMs: 2000 });
    return r.exitCode === 0 ? r.stdout : '';
  };
  let sessions = { protocols: '', bfd: '' };
  const poll = async (): Promise<void> => {
    sessions = { protocols: await ask(['show', 'protocols']), bfd: await ask(['show', 'bfd', 'sessions']) };
  };
  void poll();
  const poller = setInterval(() => void poll(), STATUS_EVERY_MS);
  poller.unref();

  return {
    get drained() {
      return drained;
    },
    announced: () => current.map(vipPrefix),
    status: () => {
      const status = bgpStatus(ports.config.config().bgp?.peers ?? [], sessions.protocols, sessions.bfd, current.map(vipPrefix), drained);
      return speaker ? { ...status, speaker_restarts: speaker.restarts } : status;
    },
    setDrained: async (on) => {
      drained = on;
      await update();
    },
    reconfigure: (config) => void queue.run(async () => {
      const text = renderConf(config);
      if (text !== undefined && await write(paths.birdConf, text)) await configure();
    }).then(update).catch((err: Error) => logger.error({ err: err.message }, 'applying the reloaded bgp config failed')),
    stop: async (how = 'keep') => {
      unsubscribe();
      clearInterval(poller);
      await queue.idle();
      await alive.stop(how);
      await speaker?.stop(how === 'withdraw');
    },
  };
}
