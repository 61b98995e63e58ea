// A Runner that runs every command inside a network namespace, as the agent would when it is
// started with `ip netns exec NS ha-agent run`.

import { ExecaRunner, type RunOptions, type RunResult, type Runner } from '../../agent/apply/runner.js';

export class NsRunner implements Runner {
  private readonly inner = new ExecaRunner();
  constructor(readonly namespace: string) {}

  async run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
    const result = await this.inner.run('ip', ['netns', 'exec', this.namespace, command, ...args], options);
    return { ...result, command, args };
  }
}
