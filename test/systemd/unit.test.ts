// The systemd unit: a notify service with a watchdog that restarts the agent, reloads through
// agentctl (which fails on an invalid config), stops it without touching the rules, and says in
// a comment why it holds each capability it keeps.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundingSet, directive, unitText } from './unit-file.js';

test('the unit runs the packaged daemon as a notify service with a watchdog', () => {
  assert.deepEqual(directive('Type'), ['notify']);
  assert.deepEqual(directive('NotifyAccess'), ['main']);
  assert.deepEqual(directive('WatchdogSec'), ['10s']);
  assert.deepEqual(directive('ExecStart'), ['/usr/bin/ha-agent run --config /etc/ha-agent/config.yaml']);
  assert.deepEqual(directive('Restart'), ['always']);
  // Exit status 2 is a bad config (SPEC §3): no restart loop on it.
  assert.deepEqual(directive('RestartPreventExitStatus'), ['2']);
  assert.deepEqual(directive('KillMode'), ['mixed']);
});

test('reload is agentctl reload: synchronous, and failing on an invalid config', () => {
  assert.deepEqual(directive('ExecReload'), ['/usr/bin/agentctl reload']);
});

test('the files the agent writes are its own directories, and nothing else is writable', () => {
  assert.deepEqual(directive('ProtectSystem'), ['strict']);
  assert.deepEqual(directive('RuntimeDirectory'), ['ha-agent']);
  assert.deepEqual(directive('RuntimeDirectoryPreserve'), ['yes']);
  assert.deepEqual(directive('StateDirectory'), ['ha-agent']);
  assert.deepEqual(directive('ReadWritePaths'), ['-/etc/keepalived -/etc/conntrackd -/run/xtables.lock']);
  assert.deepEqual(directive('UMask'), ['0027']);
});

test('every capability kept is explained in the unit, and nothing else is granted', () => {
  const caps = boundingSet();
  assert.deepEqual(caps, ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SYS_NICE', 'CAP_CHOWN']);
  const text = unitText();
  for (const cap of caps) assert.match(text, new RegExp(`^#\\s+${cap}\\s+\\S`, 'm'), `${cap} has no comment saying what needs it`);
  assert.deepEqual(directive('AmbientCapabilities'), ['']);
  assert.deepEqual(directive('RestrictAddressFamilies'), ['AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET']);
  assert.deepEqual(directive('SystemCallFilter'), ['@system-service']);
});
