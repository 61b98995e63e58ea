// Loading one of the native modules built by native/build.sh, and the handle JavaScript keeps for
// a listener it opened: one place for the "not built" reason and the close-once rule.

import { createRequire } from 'node:module';

/** The module at `path` with `functions` present, or why it cannot be used (`what` names it). */
export function loadAddon<T extends object>(path: string, what: string, functions: readonly (keyof T)[]): { addon: T; error?: undefined } | { addon?: undefined; error: string } {
  let addon: Partial<T>;
  try {
    addon = createRequire(import.meta.url)(path) as Partial<T>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: code === 'MODULE_NOT_FOUND' ? `${path} is not built (native/build.sh)` : `${path}: ${(err as Error).message}` };
  }
  if (functions.some((f) => typeof addon[f] !== 'function')) return { error: `${path} is not the ${what} module (native/build.sh)` };
  return { addon: addon as T };
}

/** A listener the native side knows by `token`: closed at most once (a second close is a no-op). */
export function closeOnce(close: (token: number) => void, token: number): { close(): void } {
  let closed = false;
  return {
    close: () => {
      if (closed) return;
      closed = true;
      close(token);
    },
  };
}
