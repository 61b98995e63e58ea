// Where a program the config names is found. One lookup for check-config (config/host.ts) and
// for the exec check when it runs (checks/exec.ts), so what one accepts the other can start.

import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, resolve } from 'node:path';

/** Debian's monitoring-plugins put check_tcp & co. here, off PATH. */
export const NAGIOS_PLUGINS = '/usr/lib/nagios/plugins';

export interface ProgramSearch {
  /** Directories in PATH form (default: this process's PATH, which the runner passes on). */
  readonly path?: string;
  /** Searched after PATH. */
  readonly then?: readonly string[];
  /** Where a relative name with a slash starts (default: the working directory). */
  readonly cwd?: string;
}

/** The exec checks' search: PATH, then the plugin directories (default: Debian's). */
export interface CheckSearch {
  readonly path?: string;
  readonly pluginDirs?: readonly string[];
  readonly cwd?: string;
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    if (!(await stat(file)).isFile()) return false;
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The file `name` runs, or undefined. A name with a slash is a path and is not searched for, as
 * execvp does; empty PATH entries are skipped rather than read as the working directory.
 */
export async function findProgram(name: string, search: ProgramSearch = {}): Promise<string | undefined> {
  const cwd = search.cwd ?? process.cwd();
  if (name.includes('/')) {
    const file = resolve(cwd, name);
    return (await isExecutableFile(file)) ? file : undefined;
  }
  const dirs = [...(search.path ?? process.env.PATH ?? '').split(delimiter).filter(Boolean), ...(search.then ?? [])];
  for (const dir of dirs) {
    const file = resolve(cwd, dir, name);
    if (await isExecutableFile(file)) return file;
  }
  return undefined;
}

export function pluginDirs(search: CheckSearch): readonly string[] {
  return search.pluginDirs ?? [NAGIOS_PLUGINS];
}

/** An exec check's program: by path, on PATH, then in the plugin directories. */
export function findCheckProgram(name: string, search: CheckSearch = {}): Promise<string | undefined> {
  return findProgram(name, { ...search, then: pluginDirs(search) });
}

/** Why `name` was not found, for check-config. */
export function notFoundMessage(name: string, extraDirs: readonly string[] = []): string {
  const shown = JSON.stringify(name);
  if (name.includes('/')) return `${shown} is not an executable file`;
  return extraDirs.length > 0 ? `${shown} is not on PATH nor in ${extraDirs.join(', ')}` : `${shown} is not on PATH`;
}
