// Exit codes shared by both commands (SPEC §3): 0 success, 1 failure, 2 bad usage or bad config.

import { CommanderError, type Command } from 'commander';
import { isJournalStream } from '../log.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Commander exits 1 on usage errors; the contract says 2. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<void> {
  // Subcommands do not inherit an override set after they were added: set it on every one.
  const all = (command: Command): Command[] => [command, ...command.commands.flatMap(all)];
  for (const command of all(program)) {
    command.exitOverride();
    command.configureOutput({ writeErr: writeError });
  }
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // 'commander.help' is help shown because a subcommand is missing: bad usage.
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version';
      process.exitCode = ok ? EXIT_OK : EXIT_USAGE;
      return;
    }
    if (err instanceof CliError) {
      if (err.message) writeError(`${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    writeError(`error: ${(err as Error).message}\n`);
    process.exitCode = EXIT_FAILURE;
  }
}

/**
 * Error text on stderr. Under systemd (a bad config at `ha-agent run`, a refused `ExecReload`)
 * each line carries the err priority, so `journalctl -p err` shows why the service failed.
 */
export function writeError(text: string): void {
  if (!isJournalStream(process.env, 2)) {
    process.stderr.write(text);
    return;
  }
  process.stderr.write(text.replace(/^(?=.)/gm, '<3>'));
}

/** A failure the command reports itself, with its exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'CliError';
  }
}
