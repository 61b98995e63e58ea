// The soak's client, run in the lab's client namespace: new connections through the VIP at a steady
// rate, and long-lived echo streams replaced as they break. Prints one JSON line per event (epoch
// ms times) for the runner to turn into history records; on SIGTERM closes its streams, prints
// their close, then `done`.
//   node traffic.js --target IP:PORT --rate N --streams N [--timeout-ms MS] [--interval-ms MS]

import { connect, type Socket } from 'node:net';
import { errorKey, parseTarget, readFlags } from '../fixtures/bin/lib/flags.js';

const PROGRAM = 'traffic';
const flags = readFlags(PROGRAM, ['target', 'rate', 'streams', 'timeout-ms', 'interval-ms']);
const { host, port } = parseTarget(PROGRAM, flags.str('target'));
const rate = flags.int('rate', 30, 1);
const streamCount = flags.int('streams', 24, 0);
const timeoutMs = flags.int('timeout-ms', 2000, 1);
const intervalMs = flags.int('interval-ms', 200, 1);
/** A broken stream is replaced after this long, so a dead LB is not hammered in a loop. */
const REPLACE_AFTER_MS = 500;

export type TrafficEvent =
  | { k: 'conn'; t: number; end: number; ok: boolean; port?: number; backend?: string; error?: string }
  | { k: 'stream'; t: number; id: number; phase: 'open' | 'close' | 'break'; backend?: string; error?: string };

const emit = (e: TrafficEvent): void => void process.stdout.write(`${JSON.stringify(e)}\n`);
let stopping = false;

/**
 * One new connection: the name line the backend sends, then close. Its source port goes to the
 * history too: a port the client reuses while the LB still holds the old flow's conntrack entry
 * is how a new connection can follow an old one to its backend.
 */
function oneConn(): void {
  const t = Date.now();
  const socket = connect({ host, port });
  let buf = '';
  let settled = false;
  const finish = (result: { ok: true; backend: string } | { ok: false; error: string }): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    const local = socket.localPort;
    socket.destroy();
    emit({ k: 'conn', t, end: Date.now(), ...(local !== undefined ? { port: local } : {}), ...result });
  };
  const timer = setTimeout(() => finish({ ok: false, error: 'TIMEOUT' }), timeoutMs);
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    const nl = buf.indexOf('\n');
    if (nl >= 0) finish({ ok: true, backend: buf.slice(0, nl).trim() });
  });
  socket.on('error', (err) => finish({ ok: false, error: errorKey(err) }));
  socket.on('close', () => finish({ ok: false, error: 'CLOSED' }));
}

interface Stream {
  readonly id: number;
  readonly socket: Socket;
  backend: string | null;
  pending: { line: string; at: number }[];
  sent: number;
  done: boolean;
}

const streams = new Set<Stream>();
let nextId = 0;

function openStream(): void {
  if (stopping) return;
  const t = Date.now();
  const socket = connect({ host, port });
  const s: Stream = { id: nextId++, socket, backend: null, pending: [], sent: 0, done: false };
  streams.add(s);
  let buf = '';
  const end = (error: string): void => {
    if (s.done) return;
    s.done = true;
    clearTimeout(connectTimer);
    streams.delete(s);
    socket.destroy();
    if (stopping) return;
    // A stream that never opened is a new connection that failed; one that did is a break.
    if (s.backend === null) emit({ k: 'conn', t, end: Date.now(), ok: false, error: `stream ${error}` });
    else emit({ k: 'stream', t: Date.now(), id: s.id, phase: 'break', backend: s.backend, error });
    setTimeout(openStream, REPLACE_AFTER_MS);
  };
  const connectTimer = setTimeout(() => end('TIMEOUT'), timeoutMs);
  socket.setEncoding('utf8');
  socket.setNoDelay(true);
  socket.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0 && !s.done; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (s.backend === null) {
        clearTimeout(connectTimer);
        s.backend = line.trim();
        emit({ k: 'stream', t: Date.now(), id: s.id, phase: 'open', backend: s.backend });
        continue;
      }
      if (s.pending.shift()?.line !== line) end('echo mismatch');
    }
  });
  socket.on('error', (err) => end(errorKey(err)));
  socket.on('close', () => end('CLOSED'));
}

function tick(): void {
  const now = Date.now();
  for (const s of streams) {
    if (s.backend === null || s.done) continue;
    const oldest = s.pending[0];
    if (oldest !== undefined && now - oldest.at > timeoutMs) {
      s.socket.emit('error', Object.assign(new Error('echo timeout'), { code: 'ECHO_TIMEOUT' }));
      continue;
    }
    const line = `ping ${s.id} ${s.sent++}`;
    s.pending.push({ line, at: now });
    s.socket.write(`${line}\n`);
  }
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  clearInterval(conns);
  clearInterval(pings);
  for (const s of streams) {
    if (s.backend !== null && !s.done) emit({ k: 'stream', t: Date.now(), id: s.id, phase: 'close', backend: s.backend });
    s.done = true;
    s.socket.destroy();
  }
  // In-flight connections end within their timeout and are still reported.
  setTimeout(() => {
    process.stdout.write('done\n');
    process.exit(0);
  }, timeoutMs + 200);
}

const conns = setInterval(oneConn, 1000 / rate);
const pings = setInterval(tick, intervalMs);
for (let i = 0; i < streamCount; i++) openStream();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
