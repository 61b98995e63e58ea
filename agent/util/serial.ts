// Run-one-at-a-time: tasks start in the order given, each after the one before has settled, and
// a task that fails does not stop the next (its caller sees the failure, the queue does not).

export interface SerialQueue {
  /** Runs `task` after every task queued before it; settles as `task` does. */
  run<T>(task: () => Promise<T> | T): Promise<T>;
  /** Resolves once every task queued so far has settled; never rejects. */
  idle(): Promise<void>;
}

export function serialQueue(): SerialQueue {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    run<T>(task: () => Promise<T> | T): Promise<T> {
      const result = tail.then(task);
      tail = result.catch(() => undefined);
      return result;
    },
    idle: () => tail.then(() => undefined),
  };
}
