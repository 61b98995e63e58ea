// Reads keepalived's notify FIFO. Opened read-write and non-blocking: the open never waits for a
// writer, and the agent's own write end means keepalived restarting never gives us an EOF.

import { constants, openSync, readSync } from 'node:fs';
import { lstat, unlink } from 'node:fs/promises';
import { Socket } from 'node:net';
import type { Runner } from '../apply/runner.js';
import { describeFailure } from '../apply/runner.js';
import { LineSplitter } from '../io/lines.js';
import { MAX_LINE } from './notify.js';

/**
 * Creates the FIFO unless one is there. An existing FIFO is kept, never recreated: a keepalived
 * that is already running (systemd mode) keeps writing to the inode it opened.
 */
export async function ensureFifo(path: string, runner: Runner): Promise<void> {
  const stat = await lstat(path).catch(() => undefined);
  if (stat?.isFIFO()) return;
  if (stat) await unlink(path);
  // Node has no mkfifo(3); coreutils does it without a shell.
  const result = await runner.run('mkfifo', ['-m', '0600', path], { timeoutMs: 5000 });
  if (result.exitCode !== 0) throw new Error(`cannot create the notify FIFO ${path}: ${describeFailure(result)}`);
}

export interface FifoReader {
  close(): void;
}

/**
 * `discardBuffered`: drop what is already in the pipe. When the agent starts or reloads keepalived
 * itself, those lines are about an earlier keepalived (e.g. the STOP of the one that died with the
 * previous agent) and would be reported as a transition of the new one.
 */
export function readFifoLines(path: string, onLine: (line: string) => void, opts: { discardBuffered?: boolean } = {}): FifoReader {
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  if (opts.discardBuffered) drain(fd);
  const socket = new Socket({ fd, readable: true, writable: false });
  // An overlong line is garbage, not a reason to stop following keepalived: it is dropped.
  const lines = new LineSplitter(MAX_LINE);
  socket.on('data', (chunk: Buffer) => {
    for (const line of lines.push(chunk)) onLine(line);
  });
  socket.on('error', () => socket.destroy());
  return { close: () => socket.destroy() };
}

/** Reads the non-blocking FIFO until it is empty (EAGAIN); bounded by the pipe's capacity. */
function drain(fd: number): void {
  const buffer = Buffer.alloc(65_536);
  for (let i = 0; i < 64; i++) {
    try {
      if (readSync(fd, buffer, 0, buffer.length, null) <= 0) return;
    } catch {
      return;
    }
  }
}
