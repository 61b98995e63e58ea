// The SCTP probe on this machine's kernel, which tracks and NATs SCTP (the sctp traffic tests
// carry an association through it): the probe must say so.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ExecaRunner } from '../../agent/apply/runner.js';
import { SctpProbe } from '../../agent/apply/sctp-probe.js';
import { needsRoot } from '../support/root.js';

it('this kernel tracks SCTP', needsRoot(), async () => {
  assert.deepEqual(await new SctpProbe(new ExecaRunner()).probe(), { state: 'supported' });
});
