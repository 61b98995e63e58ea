// keepalived's notify FIFO lines -> VRRP state events. Pure, and tolerant: anything that is not a
// well-formed line about a known state is ignored rather than trusted.

import type { VrrpState } from './state.js';

export interface NotifyEvent {
  readonly kind: 'instance' | 'group';
  readonly name: string;
  readonly state: VrrpState;
  /** The priority keepalived reported, when it did. */
  readonly priority?: number;
}

/** Lines longer than this are garbage (a real line is ~40 bytes); the reader drops them. */
export const MAX_LINE = 1024;

// `INSTANCE "VI_1" MASTER 100`; names may contain spaces but keepalived never puts quotes in them.
const LINE = /^(INSTANCE|GROUP) "([^"\n]{1,128})" ([A-Z_]{1,32})(?: (\d{1,3}))?$/;

/** keepalived's words for states; the rest (MASTER_RX_LOWER_PRI, priority notes) are not transitions. */
function stateOf(word: string): VrrpState | undefined {
  switch (word) {
    case 'MASTER':
    case 'BACKUP':
    case 'FAULT':
    case 'STOP':
      return word;
    // An instance removed by a reload no longer holds anything.
    case 'DELETED':
      return 'STOP';
    default:
      return undefined;
  }
}

export function parseNotifyLine(line: string): NotifyEvent | undefined {
  const match = LINE.exec(line.trim());
  if (!match) return undefined;
  const state = stateOf(match[3]!);
  if (!state) return undefined;
  const priority = match[4] === undefined ? undefined : Number(match[4]);
  return {
    kind: match[1] === 'GROUP' ? 'group' : 'instance',
    name: match[2]!,
    state,
    ...(priority !== undefined && priority <= 255 ? { priority } : {}),
  };
}
