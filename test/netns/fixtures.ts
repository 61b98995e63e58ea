// Locates the compiled fixture programs and parses their JSON output.
import { fileURLToPath } from 'node:url';
import type { ExecOptions, Lab } from './lab.js';
import type { ConnReport } from '../fixtures/bin/lib/types.js';

export type FixtureName = 'name-server' | 'http-server' | 'conn-client' | 'stream-client';

/** Absolute path of dist/test/fixtures/bin/<name>.js, relative to this compiled module. */
export function fixturePath(name: FixtureName): string {
  return fileURLToPath(new URL(`../fixtures/bin/${name}.js`, import.meta.url));
}

/** Parses the last non-empty line of a fixture's stdout as JSON (the fixtures print one JSON line). */
export function parseJsonLine<T>(stdout: string): T {
  const line = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .at(-1);
  if (line === undefined) throw new Error('fixture printed nothing on stdout');
  try {
    return JSON.parse(line) as T;
  } catch (err) {
    throw new Error(`fixture output is not JSON: ${line.slice(0, 200)}`, { cause: err });
  }
}

export interface ConnOptions {
  readonly count: number;
  readonly concurrency?: number;
  /** conn-client's limit for one connection (--timeout-ms; its default is 2000). */
  readonly connTimeoutMs?: number;
}

/** Runs conn-client in the `client` host: `count` new TCP connections to `target` (ip:port); its report. */
export async function connReport(lab: Lab, target: string, opts: ConnOptions, exec: ExecOptions = {}): Promise<ConnReport> {
  const args = ['--target', target, '--count', String(opts.count)];
  if (opts.concurrency !== undefined) args.push('--concurrency', String(opts.concurrency));
  if (opts.connTimeoutMs !== undefined) args.push('--timeout-ms', String(opts.connTimeoutMs));
  return parseJsonLine<ConnReport>((await lab.execFixture('client', 'conn-client', args, exec)).stdout);
}
