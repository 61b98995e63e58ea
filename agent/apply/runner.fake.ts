// A scripted Runner for unit tests: records every call and answers from a handler.

import type { RunOptions, RunResult, Runner } from './runner.js';

export interface RecordedCall {
  readonly command: string;
  readonly args: readonly string[];
  readonly input?: string;
}

export type FakeHandler = (call: RecordedCall) => Partial<RunResult> | undefined;

export class FakeRunner implements Runner {
  readonly calls: RecordedCall[] = [];
  constructor(private handler: FakeHandler = () => undefined) {}

  setHandler(handler: FakeHandler): void {
    this.handler = handler;
  }

  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const call: RecordedCall = { command, args: [...args], ...(options.input !== undefined ? { input: options.input } : {}) };
    this.calls.push(call);
    const answer = this.handler(call) ?? {};
    return { command, args, exitCode: 0, stdout: '', stderr: '', durationMs: 0, timedOut: false, ...answer };
  }
}
