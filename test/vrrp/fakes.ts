// A fake child process for the Supervisor: records signals, exits when told to; and a runner that
// makes real FIFOs but only records everything else (systemctl).

import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import type { SpawnFn } from '../../agent/vrrp/supervisor.js';
import { ExecaRunner, type Runner, type RunOptions } from '../../agent/apply/runner.js';
import { FakeRunner } from '../../agent/apply/runner.fake.js';

export class FakeChild extends EventEmitter {
  static nextPid = 40_000;
  readonly pid = FakeChild.nextPid++;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly signals: string[] = [];
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** Signals that end the fake process (SIGHUP is a reload for keepalived). */
  constructor(readonly command: string, readonly args: readonly string[], private readonly fatal = ['SIGTERM', 'SIGKILL']) {
    super();
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    if (this.fatal.includes(signal)) setImmediate(() => this.exit(null, signal));
    return true;
  }

  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (this.exitCode !== null || this.signalCode !== null) return;
    this.exitCode = code;
    this.signalCode = signal;
    this.stdout.end();
    this.stderr.end();
    this.emit('close', code, signal);
  }
}

/** A SpawnFn that records every child it "starts". */
export function fakeSpawner(): { spawn: SpawnFn; children: FakeChild[] } {
  const children: FakeChild[] = [];
  const spawn: SpawnFn = (command, args) => {
    const child = new FakeChild(command, args);
    children.push(child);
    return child as unknown as ChildProcess;
  };
  return { spawn, children };
}

/** Real mkfifo, recorded systemctl. */
export class MixedRunner implements Runner {
  readonly fake = new FakeRunner();
  private readonly real = new ExecaRunner();
  run(command: string, args: readonly string[], options?: RunOptions) {
    return command === 'mkfifo' ? this.real.run(command, args, options) : this.fake.run(command, args, options);
  }
}
