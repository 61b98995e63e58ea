// Slow start as the engine applies it: a recovered backend's weight factor (checks/slowstart.ts
// computes the ramp), and a re-plan of its farm at each step of the ramp, so the kernel's share
// grows in steps rather than being rewritten continuously.

import type { Clock, TimerHandle } from '../../checks/clock.js';
import { slowstartWeight } from '../../checks/slowstart.js';
import type { FarmConfig } from '../../config/schema.js';
import { markKey } from '../plan/marks.js';
import type { EngineEvent } from './history.js';

/** The factor a backend's weight is planned with now; 1 when it is not ramping. */
export function slowstartFactor(farm: FarmConfig, runtime: { readonly upSince?: number }, now: number): number {
  return runtime.upSince === undefined ? 1 : slowstartWeight(runtime.upSince, farm.check.slowstart, now).factor;
}

/** What the ramp needs of the engine. */
export interface RampTarget {
  on(listener: (event: EngineEvent) => void): () => void;
  farmConfig(name: string): FarmConfig | undefined;
  readonly runtime: ReadonlyMap<string, { readonly upSince?: number }>;
  replan(farm: string): void;
}

export class SlowstartRamp {
  private readonly timers = new Map<string, TimerHandle>();
  private readonly unsubscribe: () => void;

  /** `now` is the engine's (epoch ms, as `upSince`); `clock` runs the timers. */
  constructor(private readonly engine: RampTarget, private readonly clock: Clock, private readonly now: () => number) {
    this.unsubscribe = engine.on((event) => {
      if (event.type === 'transition' && event.to === 'up') this.ramp(event.farm, event.backend);
    });
  }

  stop(): void {
    this.unsubscribe();
    for (const timer of this.timers.values()) this.clock.clearTimer(timer);
    this.timers.clear();
  }

  private ramp(farm: string, backend: string): void {
    const key = markKey(farm, backend);
    const farmConfig = this.engine.farmConfig(farm);
    const upSince = this.engine.runtime.get(key)?.upSince;
    if (!farmConfig?.check.slowstart || upSince === undefined) return;
    const next = slowstartWeight(upSince, farmConfig.check.slowstart, this.now()).nextStepAt;
    const armed = this.timers.get(key);
    if (armed !== undefined) this.clock.clearTimer(armed);
    this.timers.delete(key);
    if (next === null) return;
    this.timers.set(key, this.clock.setTimer(() => {
      this.timers.delete(key);
      this.engine.replan(farm);
      this.ramp(farm, backend);
    }, Math.max(0, next - this.now())));
  }
}
