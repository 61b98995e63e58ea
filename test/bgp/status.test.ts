// The bgp block of `agentctl status`: disabled without a speaker, the speaker's view with one,
// and a line in the table only then; and where this node applies a health its own checks do not see.

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

test('clustered: a line where this node\'s own view differs from the health it applies', () => {
  const views: Record<string, Record<string, 'up' | 'down'>> = { 'web/b1': { lb1: 'down', lb2: 'up', lb3: 'up' }, 'web/b2': { lb1: 'up', lb2: 'up', lb3: 'down' } };
  const cluster = { state: 'connected' as const, peers: () => [], views: (key: string) => views[key] ?? { lb1: 'up' } };
  const text = formatStatus(buildStatus({ ...sampleInput(), cluster }), { colour: false });
  assert.match(text, /^ {2}b1: this node's checks see it down; the cluster's view applied here is up \(lb1 down, lb2 up, lb3 up\)$/m);
  // Another node disagreeing while this one agrees with what it applies is no line of this node's.
  assert.doesNotMatch(text, /b2: this node's/);
  assert.doesNotMatch(formatStatus(buildStatus(sampleInput()), { colour: false }), /this node's checks/);
});
