// The `none` check: the backend is always up (for farms whose backends are checked elsewhere).

import type { CheckResult, Probe } from './types.js';

const UP: CheckResult = Object.freeze({ ok: true, message: 'no check configured', latencyMs: 0 });

export const noneProbe: Probe = async () => UP;
