// Reading BIRD's `show route export` answers, and waiting for them to be empty: a withdrawal is
// confirmed by BIRD for every peer, a session that is down counts as nothing exported, and an
// answer that says nothing (BIRD unreachable) is never taken for a withdrawal.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkWithdrawn, exportedPrefixes, waitWithdrawn } from '../../agent/bgp/withdrawn.js';
import { FakeRunner } from '../../agent/apply/runner.fake.js';

// As BIRD 2.0.12 prints them (one route with a second path, as under `merge paths`).
const EXPORTING = `BIRD 2.0.12 ready.
Table master4:
10.60.0.100/32       unicast [ha_vips4 15:47:40.553] * (200)
\tvia 192.0.0.9 on lo
                     unicast [ha_vips4 15:47:40.553] (200)
2001:db8::100/128    unicast [ha_vips6 15:47:40.553] * (200)
`;

const CASES: { name: string; exitCode: number; stdout: string; want: string[] | undefined }[] = [
  { name: 'routes exported, each once', exitCode: 0, stdout: EXPORTING, want: ['10.60.0.100/32', '2001:db8::100/128'] },
  { name: 'nothing exported', exitCode: 0, stdout: 'BIRD 2.0.12 ready.\n', want: [] },
  { name: 'the session is not up: no channel, nothing exported', exitCode: 1, stdout: 'BIRD 2.0.12 ready.\nNo valid tables\n', want: [] },
  { name: 'an unknown protocol says nothing', exitCode: 1, stdout: 'BIRD 2.0.12 ready.\nsyntax error, unexpected CF_SYM_UNDEFINED\n', want: undefined },
  { name: 'BIRD unreachable says nothing', exitCode: 1, stdout: 'Unable to connect to server control socket (/run/x.ctl): No such file or directory\n', want: undefined },
];
for (const c of CASES) test(`exportedPrefixes: ${c.name}`, () => assert.deepEqual(exportedPrefixes(c.exitCode, c.stdout), c.want));

const PEERS = [{ address: '10.51.0.1' }, { address: '10.51.0.2' }];

test('checkWithdrawn asks BIRD per peer protocol and names what remains', async () => {
  const runner = new FakeRunner((call) => (call.args.at(-1) === 'peer_10_51_0_2' ? { stdout: EXPORTING } : { stdout: 'BIRD 2.0.12 ready.\n' }));
  const check = await checkWithdrawn(runner, 'birdc', '/run/lb1/bird.ctl', PEERS);
  assert.deepEqual(runner.calls.map((c) => [c.command, ...c.args]), [
    ['birdc', '-s', '/run/lb1/bird.ctl', 'show', 'route', 'export', 'peer_10_51_0_1'],
    ['birdc', '-s', '/run/lb1/bird.ctl', 'show', 'route', 'export', 'peer_10_51_0_2'],
  ]);
  assert.deepEqual(check, { withdrawn: false, remaining: ['10.60.0.100/32 to 10.51.0.2', '2001:db8::100/128 to 10.51.0.2'] });
});

test('waitWithdrawn: asks again until BIRD exports nothing', async () => {
  let asked = 0;
  const runner = new FakeRunner(() => ({ stdout: ++asked <= 4 ? EXPORTING : 'BIRD 2.0.12 ready.\n' }));
  let t = 0;
  const r = await waitWithdrawn({ runner, birdc: 'birdc', socket: '/s', peers: PEERS, timeoutMs: 1000, everyMs: 50, now: () => t, sleep: async (ms) => { t += ms; } });
  assert.equal(r.withdrawn, true);
  // Two rounds with routes (two peers each), the third clean.
  assert.equal(asked, 6);
  assert.equal(r.ms, 100);
});

test('waitWithdrawn: bounded; BIRD unreachable is not a withdrawal', async () => {
  const runner = new FakeRunner(() => ({ exitCode: 1, stdout: 'Unable to connect to server control socket (/s): Connection refused\n' }));
  let t = 0;
  const r = await waitWithdrawn({ runner, birdc: 'birdc', socket: '/s', peers: PEERS.slice(0, 1), timeoutMs: 300, everyMs: 100, now: () => t, sleep: async (ms) => { t += ms; } });
  assert.equal(r.withdrawn, false);
  assert.equal(r.ms, 300);
  assert.equal(runner.calls.length, 4);
  assert.match(r.remaining[0]!, /did not say what it exports to 10\.51\.0\.1: Unable to connect .*Connection refused/);
});
