// Picking the probe for a check config (the check port is the target's: see test/daemon/targets.test.ts).

import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FakeRunner } from '../../agent/apply/runner.fake.js';
import { probeFor } from '../../checks/probe.js';
import type { CheckTarget } from '../../checks/types.js';
import { checkSchema } from '../../config/schema.js';
import { closedPort, tcpServer, type Listening } from './servers.js';

describe('probeFor', () => {
  let server: Listening<net.Server>;
  let refused: number;
  let backend: CheckTarget;
  before(async () => {
    server = await tcpServer();
    refused = await closedPort();
    backend = { farm: 'app', backend: 'app0', ip: '127.0.0.1', port: refused };
  });
  after(() => server.close());
  const runner = new FakeRunner(() => ({ exitCode: 0, stdout: 'fine\n' }));

  it('tcp probes the backend port', async () => {
    const result = await probeFor(checkSchema.parse({ type: 'tcp' }), { runner })(backend, 1000);
    assert.equal(result.message, `TCP connect to 127.0.0.1:${refused}: ECONNREFUSED`);
  });

  it('http and https build HTTP probes', async () => {
    const http = await probeFor(checkSchema.parse({ type: 'http', path: '/x' }), { runner })(backend, 1000);
    assert.equal(http.message, `HTTP GET http://127.0.0.1:${refused}/x: ECONNREFUSED`);
    const https = await probeFor(checkSchema.parse({ type: 'https' }), { runner })(backend, 1000);
    assert.equal(https.message, `HTTPS GET https://127.0.0.1:${refused}/: ECONNREFUSED`);
  });

  it('exec goes through the runner with the target substituted', async () => {
    const check = checkSchema.parse({ type: 'exec', command: ['check_it', '{ip}', '{port}'], timeout: '500ms' });
    const result = await probeFor(check, { runner })({ ...backend, port: 9100 }, 500);
    assert.deepEqual([result.ok, result.message], [true, 'exec check_it: fine']);
    assert.deepEqual(runner.calls.at(-1), { command: 'check_it', args: ['127.0.0.1', '9100'] });
  });

  it('none is always up', async () => {
    const result = await probeFor(checkSchema.parse({ type: 'none' }), { runner })(backend, 1000);
    assert.deepEqual(result, { ok: true, message: 'no check configured', latencyMs: 0 });
  });
});
