// Picks the probe for a check config and applies its check-port override.

import type { Runner } from '../agent/apply/runner.js';
import type { CheckConfig } from '../config/schema.js';
import { execProbe } from './exec.js';
import { httpProbe } from './http.js';
import { noneProbe } from './none.js';
import { tcpProbe } from './tcp.js';
import type { CheckTarget, DirectProbe, Probe } from './types.js';

export interface ProbeDeps {
  /** Runs exec checks; the only way a check starts a program. */
  readonly runner: Runner;
}

/** The target a check actually probes: `check.port` overrides the backend's service port. */
export function checkTarget(check: CheckConfig, target: CheckTarget): CheckTarget {
  return check.port === undefined || check.port === target.port ? target : { ...target, port: check.port };
}

/** The probe for one check config, shared by every backend of the farm (the scheduler asks once per config object). */
export function probeFor(check: CheckConfig, deps: ProbeDeps): Probe {
  const probe = baseProbe(check, deps);
  if (check.port === undefined) return probe;
  // One overridden target per backend target, kept: probes see the same object every time (the
  // tcp probe caches its messages per target) instead of a copy per probe.
  const targets = new WeakMap<CheckTarget, CheckTarget>();
  const probed = (target: CheckTarget): CheckTarget => {
    let t = targets.get(target);
    if (t === undefined) targets.set(target, (t = checkTarget(check, target)));
    return t;
  };
  const overridden: Probe = (target, timeoutMs, signal) => probe(probed(target), timeoutMs, signal);
  const direct = probe.direct;
  if (!direct) return overridden;
  return Object.assign(overridden, {
    direct: {
      start: (target, timeoutMs, token, done) => direct.start(probed(target), timeoutMs, token, done),
      cancel: (attempt) => direct.cancel(attempt),
    } satisfies DirectProbe,
  });
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
