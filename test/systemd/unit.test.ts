// The systemd unit: valid for systemd, restarts the agent, reloads with SIGHUP, and stops it
// without touching the rules (the agent itself keeps them on SIGTERM).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { repoPath } from '../support/repo.js';

const unit = readFileSync(repoPath('systemd/ha-agent.service'), 'utf8');
const directive = (name: string) => unit.split('\n').filter((l) => l.startsWith(`${name}=`)).map((l) => l.slice(name.length + 1));

test('the unit runs the daemon with the documented config and restarts it', () => {
  assert.deepEqual(directive('ExecStart'), ['/usr/bin/env ha-agent run --config /etc/ha-agent/config.yaml']);
  assert.deepEqual(directive('ExecReload'), ['/bin/kill -HUP $MAINPID']);
  assert.deepEqual(directive('Restart'), ['always']);
  assert.deepEqual(directive('RuntimeDirectory'), ['ha-agent']);
  assert.deepEqual(directive('StateDirectory'), ['ha-agent']);
});

test('systemd-analyze accepts the unit', { skip: process.env.CI ? undefined : hasSystemdAnalyze() ? undefined : 'skipped: systemd-analyze not installed' }, () => {
  execFileSync('systemd-analyze', ['verify', repoPath('systemd/ha-agent.service')], { stdio: 'pipe' });
});

function hasSystemdAnalyze(): boolean {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
