// Tests that need root and network namespaces (or a program such as redis-server): skipped with a
// clear line on a developer machine without them, but failing in CI (CI=true), where they must run.

import { execFileSync } from 'node:child_process';

let cached: string | null | undefined;

/** Why real-kernel tests cannot run here, or null when they can. */
export function rootUnavailableReason(): string | null {
  if (cached !== undefined) return cached;
  if (process.getuid?.() !== 0) cached = 'needs root';
  else {
    try {
      execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
      cached = null;
    } catch {
      cached = 'needs ip netns (iproute2)';
    }
  }
  return cached;
}

/**
 * Options for node:test: `{ skip: "..." }` outside CI when root is missing; in CI the test runs
 * (and fails loudly) so a missing capability never passes silently.
 */
export function needsRoot(): { skip?: string } {
  const reason = rootUnavailableReason();
  if (!reason) return {};
  if (process.env.CI) return {};
  return { skip: `skipped: ${reason} and ip netns (run as root, or in CI)` };
}

/** The same for a program on PATH (`npm test` installs them; see test/scripts/setup.sh). */
export function needsProgram(name: string): { skip?: string } {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' });
    return {};
  } catch {
    return process.env.CI ? {} : { skip: `skipped: ${name} is not installed (npm test installs it)` };
  }
}
