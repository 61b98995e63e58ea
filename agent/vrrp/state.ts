// VRRP state as the agent reports it (SPEC §3 status `vrrp.state`).

export const VRRP_STATES = ['MASTER', 'BACKUP', 'FAULT', 'STOP', 'UNKNOWN', 'DISABLED'] as const;
export type VrrpState = (typeof VRRP_STATES)[number];

/** The daemon's view of VRRP: DISABLED without a vrrp section, UNKNOWN until keepalived reports. */
export class VrrpView {
  private current: VrrpState;
  private changedAt = Date.now();
  private readonly listeners = new Set<(state: VrrpState, previous: VrrpState) => void>();

  constructor(enabled: boolean) {
    this.current = enabled ? 'UNKNOWN' : 'DISABLED';
  }

  get state(): VrrpState {
    return this.current;
  }

  get since(): number {
    return this.changedAt;
  }

  set(state: VrrpState): void {
    if (state === this.current) return;
    const previous = this.current;
    this.current = state;
    this.changedAt = Date.now();
    for (const listener of this.listeners) listener(state, previous);
  }

  on(listener: (state: VrrpState, previous: VrrpState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
