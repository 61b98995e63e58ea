// TCP connect probe: up when the three-way handshake completes within the timeout.

import net from 'node:net';
import { ABORTED, describeError } from './errors.js';
import type { CheckResult, Probe } from './types.js';

/**
 * Connects and immediately resets the connection. Closing with RST (SO_LINGER 0, as HAProxy
 * does) leaves no TIME_WAIT socket on the load balancer, so thousands of checks per second do
 * not exhaust its ephemeral ports. The only timer is the socket's own idle timeout, which
 * Node keeps in a shared per-duration list rather than one timer per probe.
 */
export const tcpProbe: Probe = (target, timeoutMs, signal) => new Promise<CheckResult>((resolve) => {
  const started = performance.now();
  const where = `TCP connect to ${target.ip}:${target.port}`;
  if (signal?.aborted) {
    resolve({ ok: false, message: `${where}: ${ABORTED}`, latencyMs: 0 });
    return;
  }
  let done = false;
  const finish = (ok: boolean, detail: string): void => {
    if (done) return;
    done = true;
    signal?.removeEventListener('abort', onAbort);
    resolve({ ok, message: `${where}: ${detail}`, latencyMs: performance.now() - started });
  };
  let socket: net.Socket;
  try {
    socket = net.connect({ host: target.ip, port: target.port });
  } catch (err) {
    // A bad port or address throws synchronously; it is still just a failed check.
    finish(false, describeError(err));
    return;
  }
  const onAbort = (): void => {
    socket.destroy();
    finish(false, ABORTED);
  };
  socket.setTimeout(timeoutMs);
  socket.once('connect', () => {
    socket.resetAndDestroy();
    finish(true, 'connected');
  });
  socket.once('timeout', () => {
    // Still in SYN_SENT: closing now sends nothing and leaves no TIME_WAIT either.
    socket.destroy();
    finish(false, `timed out after ${timeoutMs} ms`);
  });
  // Stays attached after the verdict so a late error (the peer's RST) is never unhandled.
  socket.on('error', (err) => finish(false, describeError(err)));
  signal?.addEventListener('abort', onAbort, { once: true });
});
