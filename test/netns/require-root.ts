// Gate for real-kernel tests: skip with one clear line without root/netns, but fail when CI is set.
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { execaSync } from 'execa';

export const SKIP_MESSAGE = 'skipped: needs root and ip netns';

export interface NetnsAvailability {
  ok: boolean;
  reason?: string;
}

let cached: NetnsAvailability | undefined;

/** CI=true (or any value but "", "0", "false") turns a skip into a failure, so CI cannot pass vacuously. */
export function inCi(): boolean {
  const v = (process.env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

/**
 * Root is not enough (a container may lack CAP_SYS_ADMIN), so this really adds and deletes a
 * throwaway namespace. Synchronous because node:test decides skips when tests are declared.
 */
export function netnsAvailable(): NetnsAvailability {
  if (cached) return cached;
  cached = probe();
  return cached;
}

function probe(): NetnsAvailability {
  if (process.platform !== 'linux') return { ok: false, reason: `platform is ${process.platform}` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not running as root' };
  const name = `hatprobe${randomBytes(3).toString('hex')}`;
  const add = execaSync('ip', ['netns', 'add', name], { reject: false, timeout: 5000 });
  if (add.failed) return { ok: false, reason: `ip netns add failed: ${String(add.stderr || add.shortMessage).trim()}` };
  const del = execaSync('ip', ['netns', 'del', name], { reject: false, timeout: 5000 });
  if (del.failed) return { ok: false, reason: `ip netns del failed: ${String(del.stderr || del.shortMessage).trim()}` };
  return { ok: true };
}

function failMessage(reason: string | undefined): string {
  return `${SKIP_MESSAGE} (${reason ?? 'unknown'}); CI is set, so this is a failure, not a skip`;
}

/** describe() that runs `fn` only where namespaces work; skips elsewhere, fails under CI. */
export function describeNetns(name: string, fn: () => void): void {
  const avail = netnsAvailable();
  if (avail.ok) {
    describe(name, fn);
  } else if (inCi()) {
    describe(name, () => {
      it('netns available', () => {
        throw new Error(failMessage(avail.reason));
      });
    });
  } else {
    describe(name, { skip: `${SKIP_MESSAGE} (${avail.reason ?? 'unknown'})` }, fn);
  }
}

/**
 * For use at the top of a single test: `if (skipUnlessRoot(t)) return;`.
 * Returns true after marking the test skipped; throws under CI.
 */
export function skipUnlessRoot(t: TestContext): boolean {
  const avail = netnsAvailable();
  if (avail.ok) return false;
  if (inCi()) throw new Error(failMessage(avail.reason));
  t.skip(`${SKIP_MESSAGE} (${avail.reason ?? 'unknown'})`);
  return true;
}
