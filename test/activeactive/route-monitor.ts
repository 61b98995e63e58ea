// The router's routes as the kernel reports their changes: a long-lived `ip -ts monitor route` in
// the router namespace, each change stamped by `ip` when the kernel's netlink message reaches it.
// Polling `ip route` every few ms measures the poller's own start-up, which a busy machine
// stretches by hundreds of ms; the monitor is started before the fault and runs at real-time
// priority, so its stamp is the change's time, not the test's. Stamps are wall-clock (the child
// prints UTC), comparable with Date.now().

import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import type { Lab } from '../netns/topology.js';

export interface RouteEvent {
  /** Epoch ms (to the µs) at which `ip` received the kernel's message. */
  readonly at: number;
  readonly deleted: boolean;
  /** As `ip` prints it: a host route without its /32 or /128. */
  readonly dst: string;
  /** The next hops' gateways, one per `nexthop` of a multipath route. */
  readonly gateways: readonly string[];
}

const STAMP = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\]\s+(.*)$/;
const ROUTE_TYPES = new Set(['unicast', 'local', 'broadcast', 'multicast', 'anycast', 'unreachable', 'blackhole', 'prohibit', 'throw', 'nat']);

function gatewaysIn(text: string): string[] {
  const words = text.trim().split(/\s+/);
  const out: string[] = [];
  words.forEach((w, i) => {
    if (w !== 'via') return;
    const next = words[i + 1] === 'inet' || words[i + 1] === 'inet6' ? words[i + 2] : words[i + 1];
    if (next) out.push(next);
  });
  return out;
}

/** One record of `ip -ts monitor route` (TZ=UTC): its stamped first line and the tab-led `nexthop` lines. */
export function parseRouteRecord(lines: readonly string[]): RouteEvent | undefined {
  const m = STAMP.exec(lines[0] ?? '');
  if (!m) return undefined;
  const words = m[3]!.trim().split(/\s+/);
  const deleted = words[0] === 'Deleted';
  if (deleted) words.shift();
  if (ROUTE_TYPES.has(words[0] ?? '')) words.shift();
  const dst = words[0];
  if (!dst) return undefined;
  const at = Date.parse(`${m[1]}Z`) + Number(m[2]) / 1000;
  return { at, deleted, dst, gateways: [m[3]!, ...lines.slice(1)].flatMap(gatewaysIn) };
}

export interface RouteWait {
  readonly match: (e: RouteEvent) => boolean;
  /** Only changes stamped at or after this (epoch ms). */
  readonly after: number;
  readonly timeoutMs: number;
  readonly what: string;
}

// A route nobody uses, in a table nobody reads: added and deleted to learn the monitor listens.
const PROBE_DST = '192.0.2.255';
const PROBE_TABLE = '250';

export class RouteMonitor {
  private readonly events: RouteEvent[] = [];
  private readonly listeners = new Set<() => void>();
  private record: string[] = [];
  private flushScheduled = false;
  private ended = false;
  private readonly stderr: string[] = [];

  private constructor(private readonly host: string, private readonly child: ResultPromise) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.line(line));
    createInterface({ input: child.stderr! }).on('line', (line) => this.stderr.push(line));
    void child.then(() => this.end(), () => this.end());
  }

  /** Starts the monitor in `host`'s namespace and returns once it provably sees route changes. */
  static async start(lab: Lab, host: string): Promise<RouteMonitor> {
    const child = execa('ip', ['netns', 'exec', lab.nsName(host), 'chrt', '-f', '10', 'ip', '-ts', 'monitor', 'route'], {
      env: { TZ: 'UTC' }, buffer: false, reject: false, stdin: 'ignore', cleanup: true,
    });
    const monitor = new RouteMonitor(host, child);
    try {
      // No line says the monitor has subscribed: probe until one of its probe changes shows.
      for (let attempt = 1; ; attempt++) {
        const after = Date.now();
        await lab.exec(host, 'ip', ['route', 'add', 'blackhole', `${PROBE_DST}/32`, 'table', PROBE_TABLE]);
        await lab.exec(host, 'ip', ['route', 'del', 'blackhole', `${PROBE_DST}/32`, 'table', PROBE_TABLE]);
        try {
          await monitor.waitFor({ match: (e) => e.dst === PROBE_DST, after: after - 1, timeoutMs: 500, what: 'its own probe route' });
          break;
        } catch (err) {
          if (attempt === 10 || monitor.exited) throw err;
        }
      }
    } catch (err) {
      await monitor.stop();
      throw err;
    }
    return monitor;
  }

  /** The first change since `after` that `match`es, already seen or to come. */
  waitFor(w: RouteWait): Promise<RouteEvent> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.events.find((e) => e.at >= w.after && w.match(e));
        if (hit) {
          done();
          resolve(hit);
        } else if (this.ended) {
          done();
          reject(new Error(`ip monitor in ${this.host} exited before ${w.what}: ${this.stderr.slice(-3).join(' | ')}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${w.timeoutMs} ms waiting for ${w.what} (route changes seen in ${this.host}: ${JSON.stringify(this.events.slice(-6))})`));
      }, w.timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  get exited(): boolean {
    return this.ended;
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await this.child;
  }

  private line(line: string): void {
    if (STAMP.test(line)) {
      this.flush();
      this.record = [line];
    } else if (this.record.length > 0) {
      this.record.push(line);
    }
    // `ip` writes a message whole; the lines of one read arrive in one turn of the event loop.
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    if (this.record.length === 0) return;
    const event = parseRouteRecord(this.record);
    this.record = [];
    if (event) this.events.push(event);
    for (const check of [...this.listeners]) check();
  }

  private end(): void {
    this.flush();
    this.ended = true;
    for (const check of [...this.listeners]) check();
  }
}
