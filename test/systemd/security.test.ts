// systemd's own rating of the unit's sandbox: `systemd-analyze security --offline=true` must give
// an overall exposure of at most 4.0 (Debian's haproxy and keepalived units score 9.6).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { UNIT_PATH } from './unit-file.js';

const MAX_EXPOSURE = 4.0;

test(`systemd-analyze security rates the unit's exposure at most ${MAX_EXPOSURE}`, () => {
  const out = execFileSync('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT_PATH], { encoding: 'utf8' });
  const overall = /Overall exposure level for ha-agent\.service: (\d+\.\d+)/.exec(out);
  assert.ok(overall, `no overall exposure in:\n${out.slice(-500)}`);
  const exposure = Number(overall[1]);
  console.log(`# systemd-analyze security: exposure ${exposure}`);
  assert.ok(exposure <= MAX_EXPOSURE, `exposure ${exposure} is above ${MAX_EXPOSURE}:\n${out.split('\n').filter((l) => l.startsWith('✗')).join('\n')}`);
});
