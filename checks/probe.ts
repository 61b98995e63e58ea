// Picks the probe for a check config.

import type { Runner } from '../agent/apply/runner.js';
import type { CheckConfig } from '../config/schema.js';
import { execProbe } from './exec.js';
import { httpProbe } from './http.js';
import { noneProbe } from './none.js';
import { tcpProbe } from './tcp.js';
import type { Probe } from './types.js';

export interface ProbeDeps {
  /** Runs exec checks; the only way a check starts a program. */
  readonly runner: Runner;
}

/**
 * The probe for one check config, shared by every backend of the farm (the scheduler asks once
 * per config object). The port it probes is the target's: agent/daemon/targets.ts has already
 * applied the check-port overrides.
 */
export function probeFor(check: CheckConfig, deps: ProbeDeps): Probe {
  return baseProbe(check, deps);
}

function baseProbe(check: CheckConfig, deps: ProbeDeps): Probe {
  switch (check.type) {
    case 'tcp':
      return tcpProbe;
    case 'http':
    case 'https':
      return httpProbe(check);
    case 'exec':
      return execProbe(check.command, deps.runner);
    case 'none':
      return noneProbe;
    default:
      return unreachable(check);
  }
}

function unreachable(value: never): never {
  throw new Error(`unknown check type ${JSON.stringify((value as { type?: unknown }).type)}`);
}
