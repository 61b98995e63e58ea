// The bgp block of `agentctl status`: disabled without a speaker, the speaker's view with one,
// and a line in the table only then.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildStatus } from '../../agent/control/status.js';
import { formatStatus } from '../../agent/control/format.js';
import { sampleInput } from '../control/fakes.js';

const BGP = { state: 'established' as const, peers: [{ address: '10.51.0.1', state: 'established' as const, bfd: 'up' }], announced: ['10.60.0.100/32'] };

test('without bgp: disabled, and no table line', () => {
  const status = buildStatus(sampleInput());
  assert.deepEqual(status.bgp, { state: 'disabled', peers: [], announced: [] });
  assert.doesNotMatch(formatStatus(status, { colour: false }), /^bgp /m);
});

test('with bgp: the speaker\'s view, as JSON and in the table', () => {
  const status = buildStatus({ ...sampleInput(), bgp: BGP });
  assert.deepEqual(JSON.parse(JSON.stringify(status)).bgp, BGP);
  assert.match(formatStatus(status, { colour: false }), /^bgp {8}established; peers: 10\.51\.0\.1 established \(bfd up\); announcing 10\.60\.0\.100\/32$/m);
});
