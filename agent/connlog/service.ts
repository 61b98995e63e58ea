// The connection log: reads the NFLOG group, names each connection's backend by its mark and
// writes one JSON line per new connection to the sink (the agent's log). Bounded twice: the rule
// sends at most LOG_RATE a second per farm, and here a token bucket passes at most `ratePerSecond`
// lines, counting what it drops and saying so once a second.

import type { Clock } from '../../checks/clock.js';
import { splitMarkKey } from '../plan/marks.js';
import type { NflogListener, NflogSource } from './native.js';
import { parseNflogLine } from './parse.js';

export interface ConnLogRecord {
  readonly farm: string;
  readonly backend: string | undefined;
  readonly protocol: string;
  readonly client: string;
  readonly client_port: number | undefined;
  readonly vip: string;
  readonly port: number | undefined;
}

export interface ConnLogDeps {
  readonly source: NflogSource;
  readonly group: number;
  /** farm/backend -> mark of the running config. */
  readonly marks: () => ReadonlyMap<string, number>;
  readonly mask: () => number;
  readonly sink: (record: ConnLogRecord) => void;
  /** Told how many lines the reader dropped (over its rate, or lost by the kernel) in the last second. */
  readonly dropped: (count: number) => void;
  readonly clock: Clock;
  readonly ratePerSecond?: number;
}

export class ConnLog {
  private listener: NflogListener | undefined;
  private tokens: number;
  private refilled: number;
  private drops = 0;
  private byMark = new Map<number, string>();
  private marksSeen: ReadonlyMap<string, number> | undefined;

  constructor(private readonly deps: ConnLogDeps) {
    this.tokens = deps.ratePerSecond ?? 2000;
    this.refilled = deps.clock.now();
  }

  /** Throws when the group cannot be bound. */
  start(): void {
    this.listener = this.deps.source.open(this.deps.group, (text) => this.lines(text));
  }

  stop(): void {
    this.listener?.close();
    this.listener = undefined;
    this.report();
  }

  private lines(text: string): void {
    const rate = this.deps.ratePerSecond ?? 2000;
    const now = this.deps.clock.now();
    if (now - this.refilled >= 1000) this.report();
    this.tokens = Math.min(rate, this.tokens + ((now - this.refilled) * rate) / 1000);
    this.refilled = now;
    for (const line of text.split('\n')) {
      if (!line) continue;
      if (line.startsWith('# lost')) {
        this.drops++;
        continue;
      }
      const conn = parseNflogLine(line);
      if (!conn) continue;
      if (this.tokens < 1) {
        this.drops++;
        continue;
      }
      this.tokens -= 1;
      this.deps.sink({
        farm: conn.farm, backend: this.backendOf(conn.farm, conn.mark), protocol: conn.protocol,
        client: conn.src, client_port: conn.sport, vip: conn.dst, port: conn.dport,
      });
    }
  }

  private report(): void {
    if (this.drops > 0) this.deps.dropped(this.drops);
    this.drops = 0;
  }

  /** The backend of the farm whose mark the packet carries (under the agent's mask). */
  private backendOf(farm: string, mark: number): string | undefined {
    const marks = this.deps.marks();
    if (marks !== this.marksSeen) {
      this.byMark = new Map([...marks].map(([key, m]) => [m, key]));
      this.marksSeen = marks;
    }
    const key = this.byMark.get((mark & this.deps.mask()) >>> 0);
    const parts = key === undefined ? undefined : splitMarkKey(key);
    return parts && parts[0] === farm ? parts[1] : undefined;
  }
}

