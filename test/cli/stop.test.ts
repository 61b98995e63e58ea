// The parts of `ha-agent stop` that read the system's answers: which process listens on the
// control socket (ss), and which systemd service it runs in (/proc/PID/cgroup).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listenerPids, serviceOf } from '../../agent/cli/stop.js';

test('listenerPids: the pids ss names, once each', () => {
  assert.deepEqual(listenerPids('u_str LISTEN 0 511 /run/ha-agent/agent.sock 35456466 * 0 users:(("node",pid=3461,fd=21))\n'), [3461]);
  assert.deepEqual(listenerPids('u_str LISTEN 0 511 /s 1 * 0 users:(("node",pid=10,fd=21),("node",pid=10,fd=22),("x",pid=11,fd=3))\n'), [10, 11]);
  assert.deepEqual(listenerPids(''), []);
});

const SERVICE_CASES: { name: string; cgroup: string; want: string | undefined }[] = [
  { name: 'cgroup v2, a service', cgroup: '0::/system.slice/ha-agent.service\n', want: 'ha-agent.service' },
  { name: 'cgroup v2, an instance', cgroup: '0::/system.slice/system-ha\\x2dagent.slice/ha-agent@lb1.service\n', want: 'ha-agent@lb1.service' },
  { name: 'cgroup v1, the name=systemd line', cgroup: '12:cpu,cpuacct:/system.slice/other.service\n1:name=systemd:/system.slice/ha-agent.service\n', want: 'ha-agent.service' },
  { name: 'cgroup v1, only a controller line names a service', cgroup: '12:cpu,cpuacct:/system.slice/other.service\n1:name=systemd:/user.slice/session-1.scope\n', want: undefined },
  { name: 'a login session', cgroup: '0::/user.slice/user-0.slice/session-3.scope\n', want: undefined },
  { name: 'a container root', cgroup: '0::/\n', want: undefined },
  { name: 'unreadable', cgroup: '', want: undefined },
];
for (const c of SERVICE_CASES) test(`serviceOf: ${c.name}`, () => assert.equal(serviceOf(c.cgroup), c.want));
