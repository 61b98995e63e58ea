// Every error code of the control API and of agentctl, documented in one place. On the wire an
// error is data, `{ ok: false, error: { code, message, details? } }`, never a dropped connection
// without a word (except a peer that stops reading).

/** Codes the agent returns, and what each means for the caller. */
export const SERVER_ERRORS = {
  bad_json: 'the request line is not valid JSON; fix the client',
  bad_request: 'valid JSON but not a valid request (a field is missing, unknown or of the wrong type)',
  unsupported_version: 'the request names a protocol version this agent does not speak (this one speaks v1)',
  unknown_command: 'cmd is not status, backend, reload, rules, events, config_push, config_diff or node',
  too_large: 'the request line exceeds the size limit (4 MiB); the connection is closed',
  timeout: 'the request line was not completed in time; the connection is closed',
  busy: 'too many control connections are open; the connection is closed, try again',
  unknown_farm: 'the running config has no farm of that name',
  unknown_backend: 'the farm has no backend of that name',
  apply_failed: 'the change is recorded but the rules could not be applied; the kernel keeps the previous rules and the agent retries',
  config_invalid: 'the config file, or farms pushed or shared through the cluster, are invalid here; the running config is kept (details lists every error as path: message)',
  verify_failed: 'the rules could not be read back from the kernel',
  cluster_unavailable: 'the action is cluster-wide but Redis is unreachable (or the node is not clustered); nothing changed (agentctl --local acts on this node only)',
  bgp_disabled: 'node drain/enable withdraw and announce the VIPs with BGP; this node has no bgp section (or its BGP speaker did not start)',
  internal: 'an unexpected error in the agent (logged); the agent keeps running',
} as const;

/** Codes agentctl reports itself, before or instead of an answer from the agent. */
export const CLIENT_ERRORS = {
  not_running: 'nothing answers on the control socket: the agent is not running, or runs with another socket',
  permission_denied: 'the control socket is not accessible to this user (mode 0660, owner root and control.group)',
  connection_lost: 'the agent closed the connection before answering',
  no_answer: 'the agent did not answer in time',
  bad_response: 'the agent answered something that is not a v1 response',
} as const;

export type ServerErrorCode = keyof typeof SERVER_ERRORS;
export type ClientErrorCode = keyof typeof CLIENT_ERRORS;
export type ErrorCode = ServerErrorCode | ClientErrorCode;

export interface ErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
  /** Every problem, one per line, when there are several (config_invalid, bad_request). */
  readonly details?: readonly string[];
}

/** Thrown by handlers; the server turns it into an error response. */
export class ControlError extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly details?: readonly string[], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ControlError';
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message, ...(this.details && this.details.length > 0 ? { details: this.details } : {}) };
  }
}
