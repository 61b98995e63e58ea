// Advice, not an error (the agent runs): a node that comes back preempts the VIP at once unless
// vrrp.preempt_delay holds it, and its conntrackd, restarted with it, has not yet received the
// peer's flows; the failback then resets every stream the peer carried meanwhile. Measured in the
// chaos soak: about 24 streams reset per failback without a delay, none with 2s.

interface AdviceParts {
  readonly vrrp?: { readonly preempt: boolean; readonly preempt_delay?: number | undefined } | null;
  readonly conntrackd?: object | null;
}

export function failbackAdvice(config: AdviceParts): string[] {
  if (!config.conntrackd || !config.vrrp?.preempt || config.vrrp.preempt_delay !== undefined) return [];
  return ['vrrp.preempt_delay: with conntrackd and preempt, a returning node takes the VIP back before its conntrackd has the peer\'s flows, ' +
    'and the failback resets them; set a delay long enough for the resync (e.g. preempt_delay: 2s), or preempt: false'];
}
