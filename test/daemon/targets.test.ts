// Config -> scheduled checks: one per backend, probing the right port (a backend's own
// check_port, else the farm's check.port, else the service port) with the farm's shared check.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scheduledChecks } from '../../agent/daemon/targets.js';
import { parsedConfig } from '../support/config.js';

const config = parsedConfig(`node: { id: lb1 }
farms:
  - name: plain
    vip: 10.1.0.100
    ports: [80]
    backends:
      - { name: a, ip: 10.2.0.11, port: 8080 }
      - { name: b, ip: 10.2.0.12, port: 8080, check_port: 9100 }
  - name: ported
    vip: 10.1.0.101
    ports: [80, 443]
    check: { type: tcp, port: 9000 }
    backends:
      - { name: c, ip: 10.2.0.13 }
      - { name: d, ip: 10.2.0.14, port: 8443 }
      - { name: e, ip: 10.2.0.15, check_port: 9200 }
`);

test('each backend is probed on its check_port, else check.port, else its service port', () => {
  const ports = Object.fromEntries(scheduledChecks(config, () => undefined).map((c) => [`${c.target.farm}/${c.target.backend}`, c.target.port]));
  assert.deepEqual(ports, { 'plain/a': 8080, 'plain/b': 9100, 'ported/c': 9000, 'ported/d': 9000, 'ported/e': 9200 });
});

test("a farm's backends share one check object (one probe), and the last known health is the start", () => {
  const checks = scheduledChecks(config, (key) => (key === 'plain/b' ? 'down' : undefined));
  assert.equal(checks[0]!.check, checks[1]!.check);
  assert.equal(checks[0]!.check, config.farms[0]!.check);
  assert.deepEqual(checks.map((c) => c.initial), [undefined, 'down', undefined, undefined, undefined]);
});
