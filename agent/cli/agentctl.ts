#!/usr/bin/env node
// `agentctl`: the operator's command line to a running ha-agent, over its control socket (SPEC §3).

import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_CONTROL_SOCKET } from '../../config/defaults.js';
import type { AdminState } from '../../config/schema.js';
import { call, type CallOptions } from '../control/client.js';
import { ControlError } from '../control/errors.js';
import { formatEvent, formatPercent, formatStatus, formatMs } from '../control/format.js';
import { DEFAULT_EVENTS, MAX_EVENTS, type CommandName, type EventsResult, type RequestBody, type Response, type ResultOf } from '../control/protocol.js';
import { VERSION } from '../version.js';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, runProgram } from './exit.js';

/** backend and reload wait for an apply; an agent stuck longer than this is reported. */
const APPLY_TIMEOUT_MS = 60_000;

/** SPEC §3 spells the verb `enable`; the state it sets is `enabled` (both are accepted). */
const VERBS: Readonly<Record<string, AdminState>> = { enable: 'enabled', enabled: 'enabled', drain: 'drain', maintenance: 'maintenance' };
const verb = (value: string): AdminState => {
  const state = VERBS[value];
  if (!state) throw new InvalidArgumentError('expected enable, drain or maintenance.');
  return state;
};

const program = new Command('agentctl')
  .description('Operate a running ha-agent: status, backend admin states, reload, rules, events.')
  .version(VERSION, '-V, --version')
  .option('--socket <path>', 'the agent\'s control socket', DEFAULT_CONTROL_SOCKET)
  .showHelpAfterError();

const socketOf = (cmd: Command): string => (cmd.optsWithGlobals() as { socket: string }).socket;
const print = (text: string): void => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2));

/** One request; an error answer or a connection problem becomes a one-line CliError (exit 1). */
async function ask<K extends CommandName>(cmd: Command, request: Extract<RequestBody, { cmd: K }>, options?: CallOptions): Promise<ResultOf[K]> {
  let response;
  try {
    response = await call(socketOf(cmd), request, options);
  } catch (err) {
    if (err instanceof ControlError) throw new CliError(`agentctl: ${err.message}`, EXIT_FAILURE);
    throw err;
  }
  if (!response.ok) {
    const details = response.error.details && response.error.code === 'config_invalid' ? `${response.error.details.join('\n')}\n` : '';
    throw new CliError(`${details}agentctl: ${response.error.message}`, EXIT_FAILURE);
  }
  return (response as { result: ResultOf[K] }).result;
}

program.command('status')
  .description('node, VRRP, cluster, dataplane, and per farm each backend\'s health, admin state, weight, share, mark and last check')
  .option('--json', 'print the status as JSON')
  .action(async (opts: { json?: boolean }, cmd: Command) => {
    const status = await ask(cmd, { cmd: 'status' });
    if (opts.json) printJson(status);
    else print(formatStatus(status, { colour: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR }));
  });

program.command('backend')
  .description('set a backend\'s admin state; returns once the rules are applied')
  .argument('<farm>', 'farm name')
  .argument('<backend>', 'backend name')
  .addArgument(new Argument('<state>', 'enable, drain (no new connections) or maintenance (connections cut, checks paused)').argParser(verb))
  .option('--json', 'print the result as JSON')
  .option('--local', 'clustered: change this node only (works while Redis is unreachable; pushed to the cluster when it returns)')
  .action(async (farm: string, backend: string, state: AdminState, opts: { json?: boolean; local?: boolean }, cmd: Command) => {
    const r = await ask(cmd, { cmd: 'backend', farm, backend, admin: state, ...(opts.local ? { local: true } : {}) }, { timeoutMs: APPLY_TIMEOUT_MS });
    if (opts.json) return printJson(r);
    const where = r.in_chain ? `in the chain, share ${formatPercent(r.share)}` : 'not in the chain';
    print(`${r.farm}/${r.backend}: ${r.from} -> ${r.admin} (applied in ${formatMs(r.applied_ms)}; ${where})`);
    if (r.note) print(`note: ${r.note}`);
  });

const config = program.command('config').description('the farms shared by a cluster through Redis');

config.command('push')
  .description('validate FILE and store its farms as the next cluster revision; every node validates and applies it')
  .argument('<file>', 'a config file whose farms are shared (node-local keys stay local on every node)')
  .option('--json', 'print the result as JSON')
  .action(async (file: string, opts: { json?: boolean }, cmd: Command) => {
    const { loadConfigFile, formatIssues } = await import('../../config/load.js');
    const loaded = await loadConfigFile(file);
    if (!loaded.ok) throw new CliError(formatIssues(loaded.issues), EXIT_USAGE);
    const farms = Array.isArray(loaded.raw.farms) ? loaded.raw.farms : [];
    const r = await ask(cmd, { cmd: 'config_push', farms }, { timeoutMs: APPLY_TIMEOUT_MS });
    if (opts.json) return printJson(r);
    print(`pushed ${farms.length} farm(s) from ${file} as cluster revision ${r.revision}`);
  });

config.command('diff')
  .description('compare this node\'s config file with the cluster\'s shared farms')
  .option('--json', 'print the result as JSON')
  .action(async (opts: { json?: boolean }, cmd: Command) => {
    const r = await ask(cmd, { cmd: 'config_diff' });
    if (opts.json) return printJson(r);
    print(`running cluster revision ${r.running_revision}; cluster has ${r.cluster_revision ?? 'no shared config'}`);
    const same = r.only_local.length + r.only_cluster.length + r.different.length === 0;
    if (same) return print('the local file and the cluster define the same farms');
    for (const name of r.only_local) print(`- ${name} (only in the local file)`);
    for (const name of r.only_cluster) print(`+ ${name} (only in the cluster)`);
    for (const name of r.different) print(`~ ${name} (defined differently)`);
    process.exitCode = EXIT_FAILURE;
  });

program.command('reload')
  .description('re-read the config file; when it is invalid, print its errors and keep the running config')
  .option('--json', 'print the result as JSON')
  .action(async (opts: { json?: boolean }, cmd: Command) => {
    const r = await ask(cmd, { cmd: 'reload' }, { timeoutMs: APPLY_TIMEOUT_MS });
    if (opts.json) return printJson(r);
    print(r.changed.length === 0 ? 'config reloaded; no farm changed' : `config reloaded; ${r.changed.length} farm(s) re-applied: ${r.changed.join(', ')}`);
  });

program.command('node')
  .description('with bgp: withdraw every VIP from this node (drain, planned maintenance) or announce them again (enable); established flows keep flowing')
  .argument('<action>', 'drain or enable')
  .option('--json', 'print the result as JSON')
  .action(async (action: string, opts: { json?: boolean }, cmd: Command) => {
    if (action !== 'drain' && action !== 'enable') throw new CliError(`agentctl: node takes drain or enable, got "${action}"`, EXIT_USAGE);
    const r = await ask(cmd, { cmd: 'node', action });
    if (opts.json) return printJson(r);
    print(r.state === 'drained' ? 'node drained: no VIP announced' : `node enabled: announcing ${r.announced.length > 0 ? r.announced.join(', ') : 'nothing (no farm has a usable backend)'}`);
  });

program.command('rules')
  .description('the ruleset the agent has applied, and whether the kernel still matches it (exit 1 when it does not)')
  .option('--json', 'print the result as JSON')
  .action(async (opts: { json?: boolean }, cmd: Command) => {
    const r = await ask(cmd, { cmd: 'rules' });
    // Drift is worth a non-zero exit, so monitoring can act on it like on `diff`.
    if (!r.in_sync) process.exitCode = EXIT_FAILURE;
    if (opts.json) return printJson(r);
    print(r.text);
    print(r.in_sync ? `# the kernel matches these ${r.driver} rules`
      : `# the kernel DIFFERS from these ${r.driver} rules (${r.differences.length}):\n${r.differences.map((d) => `#   ${d}`).join('\n')}`);
  });

const count = (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) > MAX_EVENTS) throw new CliError(`agentctl: -n must be a whole number 0-${MAX_EVENTS}, got "${value}"`, EXIT_USAGE);
  return Number(value);
};

program.command('events')
  .description('recent health transitions (with their reasons), admin changes and apply errors')
  .addOption(new Option('-n, --lines <n>', 'how many recent events').argParser(count).default(DEFAULT_EVENTS))
  .option('-f, --follow', 'keep printing new events as they happen')
  .option('--json', 'one JSON object per line')
  .action(async (opts: { lines: number; follow?: boolean; json?: boolean }, cmd: Command) => {
    const show = (e: Parameters<typeof formatEvent>[0]) => print(opts.json ? JSON.stringify(e) : formatEvent(e));
    if (!opts.follow) {
      (await ask(cmd, { cmd: 'events', n: opts.lines })).events.forEach(show);
      return;
    }
    process.once('SIGINT', () => process.exit(EXIT_OK));
    const onAnswer = (response: Response) => {
      if (response.ok && 'result' in response) (response.result as EventsResult).events.forEach(show);
    };
    await ask(cmd, { cmd: 'events', n: opts.lines, follow: true }, { stream: { onAnswer, onEvent: show } });
    throw new CliError('agentctl: the agent closed the event stream (stopped or restarted)', EXIT_FAILURE);
  });

// `agentctl events --follow | head -1`: a closed pipe ends the command quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? EXIT_OK : EXIT_FAILURE));

if (process.argv.length <= 2) {
  process.stderr.write(program.helpInformation());
  process.exitCode = EXIT_USAGE;
} else {
  await runProgram(program, process.argv);
}
if (process.exitCode === undefined) process.exitCode = EXIT_OK;
