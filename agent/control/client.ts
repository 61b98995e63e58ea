// agentctl's side of the protocol: one connection, one request, its answer (and, for
// events --follow, the stream after it). Connection problems become one-line ClientErrors.

import { connect } from 'node:net';
import { LineSplitter } from '../io/lines.js';
import { ControlError, type ClientErrorCode } from './errors.js';
import type { EventRecord } from './events.js';
import { PROTOCOL_VERSION, type RequestBody, type Response } from './protocol.js';

export interface CallOptions {
  /** No answer within this long is an error (default 30 s; backend/reload wait for an apply). */
  readonly timeoutMs?: number;
  /**
   * events --follow: the answer goes to onAnswer as soon as it arrives, each later event to
   * onEvent (in order, synchronously), and the call resolves when the agent closes the stream.
   */
  readonly stream?: { onAnswer(response: Response): void; onEvent(event: EventRecord): void };
}

/** One answer line at most (a status of many large farms is a few MB); beyond it the agent is not trusted. */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** What a connect error means for an operator. */
function describeConnectError(path: string, err: NodeJS.ErrnoException): { code: ClientErrorCode; message: string } {
  switch (err.code) {
    case 'ENOENT':
      return { code: 'not_running', message: `ha-agent is not running: no control socket at ${path} (use --socket PATH for another agent)` };
    case 'ECONNREFUSED':
      return { code: 'not_running', message: `ha-agent is not running: nothing answers on ${path}` };
    case 'EACCES':
    case 'EPERM':
      return { code: 'permission_denied', message: `permission denied on ${path}: run agentctl as root or as a member of the socket's group (control.group)` };
    default:
      return { code: 'not_running', message: `cannot connect to ${path}: ${err.code ?? err.message}` };
  }
}

/** Sends `request`; resolves with the agent's response (ok or error), rejects with ControlError otherwise. */
export function call(path: string, request: RequestBody, options: CallOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const lines = new LineSplitter(MAX_ANSWER_BYTES);
    let answer: Response | undefined;
    let settled = false;
    let connected = false;
    const finish = (err: ControlError | undefined, response?: Response) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(response!);
    };
    const timeoutMs = options.timeoutMs ?? 30_000;
    const timer = setTimeout(() => finish(new ControlError('no_answer', `the agent did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
    socket.once('connect', () => {
      connected = true;
      socket.write(`${JSON.stringify({ v: PROTOCOL_VERSION, ...request })}\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      const received = lines.push(chunk);
      if (lines.overlongLines > 0) {
        return finish(new ControlError('bad_response', `the agent answered a line longer than ${MAX_ANSWER_BYTES / (1024 * 1024)} MiB`));
      }
      for (const line of received) {
        let response: Response;
        try {
          response = JSON.parse(line) as Response;
        } catch {
          return finish(new ControlError('bad_response', `the agent answered something that is not JSON: ${line.slice(0, 120)}`));
        }
        if (typeof response !== 'object' || response === null || response.v !== PROTOCOL_VERSION) {
          return finish(new ControlError('bad_response', `the agent answered with an unknown protocol: ${line.slice(0, 120)}`));
        }
        if (answer === undefined) {
          answer = response;
          if (!options.stream || !response.ok) return finish(undefined, response);
          clearTimeout(timer); // a follow stream has no deadline
          options.stream.onAnswer(response);
        } else if ('event' in response) {
          options.stream?.onEvent(response.event);
        }
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) {
        const { code, message } = describeConnectError(path, err);
        return finish(new ControlError(code, message));
      }
      finish(new ControlError('connection_lost', `the connection to the agent failed: ${err.code ?? err.message}`));
    });
    socket.on('close', () => {
      if (answer !== undefined) finish(undefined, answer);
      else finish(new ControlError('connection_lost', 'the agent closed the connection without answering'));
    });
  });
}
