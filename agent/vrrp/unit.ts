// What the VRRP service hands keepalived and conntrackd, and how their systemd modes drive the unit.

import type { Logger } from '../log.js';
import { describeFailure, type Runner } from '../apply/runner.js';
import type { VrrpView } from './state.js';
import type { SpawnFn } from './supervisor.js';

export interface UnitDeps {
  readonly runner: Runner;
  readonly logger: Logger;
  readonly view: VrrpView;
  readonly spawn?: SpawnFn;
}

/** `systemctl reload|restart UNIT`; a failure is logged, not thrown, so VRRP is still followed. */
export async function systemctl(deps: Pick<UnitDeps, 'runner' | 'logger'>, action: 'reload' | 'restart', unit: string, why: string): Promise<void> {
  const result = await deps.runner.run('systemctl', [action, unit], { timeoutMs: 30_000 });
  if (result.exitCode !== 0) deps.logger.error({ err: describeFailure(result) }, `systemctl ${action} ${unit} failed (${why})`);
  else deps.logger.info({ unit }, `${unit} ${action === 'reload' ? 'reloaded' : 'restarted'} (${why})`);
}
