// Turns socket and TLS errors into the short words operators grep for (ECONNREFUSED, not a stack).

/** `ECONNREFUSED`, `EHOSTUNREACH`, or the error's message with its code when that adds something. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  // Node's syscall errors read "connect ECONNREFUSED 10.2.0.11:8080": the code alone says it
  // and the address is already in the message we prefix.
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code) && (err as NodeJS.ErrnoException).syscall) return code;
  if (typeof code === 'string' && !err.message.includes(code)) return `${err.message} (${code})`;
  return err.message;
}

/** The result of an aborted probe: the caller stopped caring, so it is a failure. */
export const ABORTED = 'aborted';
