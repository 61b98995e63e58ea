// Request validation: every malformed request is refused with a code and a message naming the problem.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequest } from '../../agent/control/request.js';
import { SERVER_ERRORS } from '../../agent/control/errors.js';

describe('parseRequest', () => {
  const good: [string, unknown][] = [
    ['{"v":1,"cmd":"status"}', { v: 1, cmd: 'status' }],
    ['{"v":1,"id":"a-1","cmd":"status"}', { v: 1, id: 'a-1', cmd: 'status' }],
    ['{"v":1,"id":7,"cmd":"backend","farm":"web","backend":"b1","admin":"drain"}', { v: 1, id: 7, cmd: 'backend', farm: 'web', backend: 'b1', admin: 'drain' }],
    ['{"v":1,"cmd":"reload"}', { v: 1, cmd: 'reload' }],
    ['{"v":1,"cmd":"rules"}', { v: 1, cmd: 'rules' }],
    ['{"v":1,"cmd":"events","n":5,"follow":true}', { v: 1, cmd: 'events', n: 5, follow: true }],
    ['  {"cmd":"events","v":1}  ', { v: 1, cmd: 'events' }],
  ];
  for (const [line, want] of good) {
    it(`accepts ${line.trim()}`, () => {
      const r = parseRequest(line);
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.request, want);
    });
  }

  // [line, code, a piece of the message, id echoed back]
  const bad: [string, string, RegExp, unknown][] = [
    ['garbage', 'bad_json', /not valid JSON/, null],
    ['\u0000\u00ff\u0001', 'bad_json', /not valid JSON/, null],
    ['{"v":1,"cmd":"status"', 'bad_json', /not valid JSON/, null],
    ['[1,2]', 'bad_request', /expected a JSON object.*an array/, null],
    ['"status"', 'bad_request', /expected a JSON object/, null],
    ['null', 'bad_request', /expected a JSON object/, null],
    ['{"cmd":"status"}', 'bad_request', /v: missing/, null],
    ['{"v":2,"id":3,"cmd":"status"}', 'unsupported_version', /version 2 is not supported; this agent speaks 1/, 3],
    ['{"v":"1","cmd":"status"}', 'unsupported_version', /"1"/, null],
    ['{"v":1,"id":"x","cmd":"shutdown"}', 'unknown_command', /"shutdown" is not a command; expected status, backend, reload, rules, events/, 'x'],
    ['{"v":1}', 'unknown_command', /cmd: missing/, null],
    ['{"v":1,"cmd":"__proto__"}', 'unknown_command', /__proto__/, null],
    ['{"v":1,"cmd":"backend","farm":"web","backend":"b1","admin":"off"}', 'bad_request', /admin: Invalid enum value.*'enabled' \| 'drain' \| 'maintenance'/, null],
    ['{"v":1,"cmd":"backend","farm":"web","admin":"drain"}', 'bad_request', /backend: Required/, null],
    ['{"v":1,"cmd":"backend","farm":"","backend":"b1","admin":"drain"}', 'bad_request', /farm: /, null],
    ['{"v":1,"cmd":"status","extra":1}', 'bad_request', /unknown field extra/, null],
    ['{"v":1,"cmd":"events","n":-1}', 'bad_request', /n: /, null],
    ['{"v":1,"cmd":"events","n":1e9}', 'bad_request', /n: /, null],
    ['{"v":1,"cmd":"events","follow":"yes"}', 'bad_request', /follow: Expected boolean/, null],
    ['{"v":1,"id":{"a":1},"cmd":"status"}', 'bad_request', /id: /, null],
  ];
  for (const [line, code, message, id] of bad) {
    it(`refuses ${JSON.stringify(line)} with ${code}`, () => {
      const r = parseRequest(line);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.code, code);
      assert.match(r.error.message, message);
      assert.equal(r.id, id);
      assert.ok(r.error.code in SERVER_ERRORS, 'every code is documented in errors.ts');
    });
  }

  it('lists every problem of a request in details', () => {
    const r = parseRequest('{"v":1,"cmd":"backend","farm":5,"admin":"x","zz":1}');
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.details?.length, 4, JSON.stringify(r.error.details));
  });
});
