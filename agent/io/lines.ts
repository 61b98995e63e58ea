// Newline framing for every byte stream the agent reads line by line (control connections and
// their client, keepalived's notify FIFO, nft's replies). Capped, because the peer decides how
// long a line is: without a cap a writer that never sends a newline grows our memory without end.
// node:readline has no cap, so this small splitter is the one home for it.

const NEWLINE = 0x0a;

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingSize = 0;
  /** Inside an overlong line: everything up to its newline is dropped. */
  private discarding = false;
  private dropped = 0;

  /** `maxLineBytes`: the longest line accepted, counted in bytes without its newline. */
  constructor(readonly maxLineBytes: number) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) throw new RangeError(`maxLineBytes must be a positive integer, got ${maxLineBytes}`);
  }

  /**
   * The lines completed by `chunk`, without their "\n" or "\r\n", decoded as UTF-8 once whole
   * (a character split across chunks stays intact). An overlong line is dropped whole, as soon
   * as it passes the cap, and counted in `overlongLines`; the next line after it is read again.
   */
  push(chunk: Buffer | string): string[] {
    const data = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const lines: string[] = [];
    let start = 0;
    for (let nl = data.indexOf(NEWLINE); nl >= 0; start = nl + 1, nl = data.indexOf(NEWLINE, start)) {
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      const piece = data.subarray(start, nl);
      if (this.pendingSize + piece.length > this.maxLineBytes) {
        this.dropped++;
        this.clear();
        continue;
      }
      lines.push(decode(this.pendingSize === 0 ? piece : Buffer.concat([...this.pending, piece])));
      this.clear();
    }
    const rest = data.subarray(start);
    if (rest.length > 0 && !this.discarding) {
      if (this.pendingSize + rest.length > this.maxLineBytes) {
        this.dropped++;
        this.clear();
        this.discarding = true;
      } else {
        // A copy: the caller may reuse its buffer once push returns.
        this.pending.push(Buffer.from(rest));
        this.pendingSize += rest.length;
      }
    }
    return lines;
  }

  /** At end of stream: the last line when it had no newline (an overlong one stays dropped). */
  end(): string[] {
    const last = this.pendingSize > 0 ? [decode(Buffer.concat(this.pending))] : [];
    this.clear();
    this.discarding = false;
    return last;
  }

  /** Bytes of a line begun but not finished (0 between lines). */
  get pendingBytes(): number {
    return this.pendingSize;
  }

  /** Lines dropped so far for passing the cap. */
  get overlongLines(): number {
    return this.dropped;
  }

  private clear(): void {
    this.pending = [];
    this.pendingSize = 0;
  }
}

function decode(line: Buffer): string {
  const text = line.toString('utf8');
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}
