// A stand-in for systemd's notification socket: a unix datagram socket (Node cannot bind one, so
// a few lines of Python's socket module do) that reports each datagram as a JSON line, with the
// sender's pid from SCM_CREDENTIALS, as systemd reads it to apply NotifyAccess=main. Asked to,
// it stops the sender (SIGSTOP) the first time a given assignment arrives, so a test looks at
// the world exactly as it was when the agent said it.

import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { withTimeout } from '../netns/poll.js';

const RECEIVER = `
import json, os, signal, socket, struct, sys, time
address, freeze = sys.argv[1], list(sys.argv[2:])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("\\0" + address[1:] if address.startswith("@") else address)
print(json.dumps({"listening": address}), flush=True)
while True:
    data, ancillary, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
    at = time.monotonic() * 1000
    pid = None
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", value[:12])[0]
    message = data.decode()
    hit = [line for line in message.split("\\n") if line in freeze]
    frozen = pid is not None and len(hit) > 0
    if frozen:
        os.kill(pid, signal.SIGSTOP)
        freeze.remove(hit[0])
    print(json.dumps({"at": at, "pid": pid, "message": message, "frozen": frozen}), flush=True)
`;

export interface Notification {
  /** When it arrived, on CLOCK_MONOTONIC in ms (see monotonicMs). */
  readonly at: number;
  /** The sender, from its credentials. */
  readonly pid: number | null;
  readonly message: string;
  /** Its assignments, e.g. READY → "1". */
  readonly fields: ReadonlyMap<string, string>;
  /** The receiver stopped the sender on this one. */
  readonly frozen: boolean;
}

/** CLOCK_MONOTONIC in ms, the clock of Notification.at. */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export class NotifyReceiver {
  readonly messages: Notification[] = [];
  private readonly events = new EventEmitter();

  private constructor(readonly address: string, private readonly child: ResultPromise) {}

  /** Binds `address` (a path, or "@name" in the abstract namespace); stops the sender the first time each line of `freezeOn` comes. */
  static async start(address: string, freezeOn: readonly string[] = []): Promise<NotifyReceiver> {
    const child = execa('python3', ['-c', RECEIVER, address, ...freezeOn], { buffer: false, reject: false, stdin: 'ignore', cleanup: true });
    const receiver = new NotifyReceiver(address, child);
    const listening = new Promise<void>((resolve, reject) => {
      const stderr: string[] = [];
      child.stderr?.on('data', (chunk: Buffer) => stderr.push(String(chunk)));
      void child.then(() => reject(new Error(`the notify receiver exited: ${stderr.join('')}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const parsed = JSON.parse(line) as { listening?: string; at: number; pid: number | null; message: string; frozen: boolean };
        if (parsed.listening !== undefined) return resolve();
        const fields = new Map(parsed.message.split('\n').filter(Boolean).map((l) => {
          const eq = l.indexOf('=');
          return [l.slice(0, eq), l.slice(eq + 1)] as [string, string];
        }));
        const n: Notification = { at: parsed.at, pid: parsed.pid, message: parsed.message, fields, frozen: parsed.frozen };
        receiver.messages.push(n);
        receiver.events.emit('message', n);
      });
    });
    await withTimeout(listening, 5000, `the notify receiver to bind ${address}`);
    return receiver;
  }

  /** The messages that carry `field` (with `value`, if given). */
  with(field: string, value?: string): Notification[] {
    return this.messages.filter((m) => m.fields.has(field) && (value === undefined || m.fields.get(field) === value));
  }

  /** The first message from index `from` on that matches, already here or to come. */
  waitFor(match: (n: Notification) => boolean, timeoutMs: number, what: string, from = 0): Promise<Notification> {
    const seen = this.messages.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    let listener: ((n: Notification) => void) | undefined;
    const found = new Promise<Notification>((resolve) => {
      listener = (n) => {
        if (match(n)) resolve(n);
      };
      this.events.on('message', listener);
    });
    return withTimeout(found, timeoutMs, what).finally(() => this.events.off('message', listener!));
  }

  async stop(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.child;
  }
}
