// The SCTP probe on fake files and a fake runner: the three answers, and conntrack loaded on
// demand only when it was not loaded yet.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CONNTRACK_FILE, SCTP_FILE, SctpProbe, sctpSupport } from '../../agent/apply/sctp-probe.js';
import { FakeRunner } from '../../agent/apply/runner.fake.js';

const files = (present: Set<string>) => async (path: string) => present.has(path);

describe('SCTP probe', () => {
  it('reads the answer from conntrack\'s SCTP timeouts', () => {
    assert.deepEqual(sctpSupport(true, true), { state: 'supported' });
    const missing = sctpSupport(true, false);
    assert.equal(missing.state, 'missing');
    assert.match((missing as { reason: string }).reason, /CONFIG_NF_CT_PROTO_SCTP/);
    assert.equal(sctpSupport(false, false).state, 'unknown');
  });

  it('runs nothing when conntrack is loaded', async () => {
    const runner = new FakeRunner();
    assert.deepEqual(await new SctpProbe(runner, { exists: files(new Set([CONNTRACK_FILE, SCTP_FILE])) }).probe(), { state: 'supported' });
    assert.equal((await new SctpProbe(runner, { exists: files(new Set([CONNTRACK_FILE])) }).probe()).state, 'missing');
    assert.equal(runner.calls.length, 0);
  });

  it('conntrack not loaded yet: `conntrack -C` loads it, then the files answer', async () => {
    const present = new Set<string>();
    const runner = new FakeRunner((call) => {
      if (call.command === 'conntrack') present.add(CONNTRACK_FILE);
      return undefined;
    });
    assert.equal((await new SctpProbe(runner, { exists: files(present) }).probe()).state, 'missing');
    assert.deepEqual(runner.calls.map((c) => [c.command, ...c.args]), [['conntrack', '-C']]);
  });

  it('conntrack cannot be loaded: unknown, with why', async () => {
    const runner = new FakeRunner(() => ({ exitCode: 1, stderr: 'conntrack v1.4.7 (conntrack-tools): Operation failed: Protocol not supported' }));
    const support = await new SctpProbe(runner, { exists: files(new Set()) }).probe();
    assert.equal(support.state, 'unknown');
    assert.match((support as { reason: string }).reason, /nf_conntrack is not loaded .*conntrack exited 1: .*Protocol not supported/);
  });
});
