// The commands and long options each CLI declares, read from its --help (commander's layout), so
// that the man pages and the bash completion are checked against the programs themselves.

import { execFileSync } from 'node:child_process';
import { agentctlBin, haAgentBin } from '../support/agent.js';

export const BINS = { 'ha-agent': haAgentBin, agentctl: agentctlBin } as const;
export type Cli = keyof typeof BINS;

export const help = (cli: Cli, args: readonly string[] = []): string =>
  execFileSync(process.execPath, [BINS[cli], ...args, '--help'], { encoding: 'utf8' });

/** Names under "Commands:" (commander's own `help` included). */
export function commands(text: string): string[] {
  const section = text.split(/^Commands:$/m)[1] ?? '';
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!);
}

/** Long options under "Options:", e.g. --config. */
export function longOptions(text: string): string[] {
  const section = (text.split(/^Options:$/m)[1] ?? '').split(/^\S/m)[0] ?? '';
  return [...section.matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!);
}

/** Every command path with its long options: [['render'], [...]], [['config', 'push'], [...]]. */
export function commandTree(cli: Cli): { path: string[]; options: string[] }[] {
  const out: { path: string[]; options: string[] }[] = [];
  const walk = (path: string[]) => {
    const text = help(cli, path);
    out.push({ path, options: longOptions(text) });
    for (const sub of commands(text)) if (sub !== 'help') walk([...path, sub]);
  };
  walk([]);
  return out;
}
