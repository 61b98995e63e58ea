// Exit codes shared by both commands (SPEC §3): 0 success, 1 failure, 2 bad usage or bad config.

import { CommanderError, type Command } from 'commander';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Commander exits 1 on usage errors; the contract says 2. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<void> {
  // Subcommands do not inherit an override set after they were added: set it on every one.
  const all = (command: Command): Command[] => [command, ...command.commands.flatMap(all)];
  for (const command of all(program)) {
    command.exitOverride();
    command.configureOutput({ writeErr: (text) => process.stderr.write(text) });
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
      if (err.message) process.stderr.write(`${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = EXIT_FAILURE;
  }
}

/** A failure the command reports itself, with its exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'CliError';
  }
}
