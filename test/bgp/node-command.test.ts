// `agentctl node drain|enable` on the wire and in the API: validated, routed to the BGP
// speaker, and refused with bgp_disabled where there is none.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequest } from '../../agent/control/request.js';
import { daemonApi, dispatch, type ApiPorts } from '../../agent/control/api.js';
import { ControlError, SERVER_ERRORS } from '../../agent/control/errors.js';
import type { NodeAnnouncements } from '../../agent/daemon/ports.js';

test('the node request: drain and enable only', () => {
  assert.deepEqual(parseRequest('{"v":1,"id":3,"cmd":"node","action":"drain"}'), { ok: true, request: { v: 1, id: 3, cmd: 'node', action: 'drain' } });
  const bad = parseRequest('{"v":1,"cmd":"node","action":"withdraw"}');
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.error.code, 'bad_request');
  assert.ok('bgp_disabled' in SERVER_ERRORS);
});

function ports(bgp: NodeAnnouncements | undefined): ApiPorts {
  // Only the ports `node` reads are real; touching another fails the test.
  const unused = new Proxy({}, { get: () => { throw new Error('node touched another port'); } });
  return { status: unused, events: unused, backends: unused, config: unused, changes: unused, rules: unused, cluster: () => undefined, bgp: () => bgp } as unknown as ApiPorts;
}

test('drain withdraws, enable announces again, through the speaker', async () => {
  let drained = false;
  const speaker: NodeAnnouncements = {
    get drained() { return drained; },
    setDrained: async (on) => { drained = on; },
    announced: () => (drained ? [] : ['10.60.0.100/32']),
    status: () => ({ state: drained ? 'drained' : 'established', peers: [], announced: drained ? [] : ['10.60.0.100/32'] }),
  };
  const api = daemonApi(ports(speaker));
  assert.deepEqual(await dispatch(api, { v: 1, cmd: 'node', action: 'drain' }), { state: 'drained', announced: [] });
  assert.deepEqual(await dispatch(api, { v: 1, cmd: 'node', action: 'enable' }), { state: 'enabled', announced: ['10.60.0.100/32'] });
});

test('without bgp: bgp_disabled, nothing else touched', async () => {
  await assert.rejects(dispatch(daemonApi(ports(undefined)), { v: 1, cmd: 'node', action: 'drain' }),
    (err: unknown) => err instanceof ControlError && err.code === 'bgp_disabled');
});
