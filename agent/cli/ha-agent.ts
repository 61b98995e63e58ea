#!/usr/bin/env node
// `ha-agent`: the daemon and its offline tools (check-config, render). SPEC §3.

import { setFlagsFromString } from 'node:v8';
import { Command, Option } from 'commander';
import { loadConfigFile, formatIssues } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { exposureWarnings } from '../../config/secrets.js';
import { bgpAdvice } from '../../config/bgp.js';
import { failbackAdvice } from '../../config/failback.js';
import { parseDownList, staticPlan } from '../plan/static.js';
import { renderIptables } from '../render/iptables.js';
import { readMarks } from '../state/marks-file.js';
import { parseDuration } from '../../config/duration.js';
import { isJournalStream, logLevelFromEnv } from '../log.js';
import { VERSION } from '../version.js';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, runProgram } from './exit.js';

const DEFAULT_CONFIG = '/etc/ha-agent/config.yaml';

/** The daemon reads HA_AGENT_LOG_LEVEL when it starts: check-config and run refuse a bad one up front. */
function checkLogLevel(): void {
  const level = logLevelFromEnv();
  if (!level.ok) throw new CliError(level.message, EXIT_USAGE);
}

async function loadOrExit(path: string): Promise<Config> {
  const result = await loadConfigFile(path);
  if (!result.ok) throw new CliError(formatIssues(result.issues), EXIT_USAGE);
  return result.config;
}

/**
 * Between full GCs V8 lets the old generation grow to up to 4x what was live. Parsing a big
 * config (hundreds of MB of short-lived YAML nodes at 10k backends) and the first convergence
 * then leave much of it committed: the steady daemon, whose checks allocate nothing long-lived,
 * never triggers a full GC to give it back. Growing by 30% at a time keeps RSS near the live heap
 * (bench/capacity.ts at 10k backends shows it) for a few more full GCs at start-up only.
 * Not a NODE_OPTIONS flag, so set here; a `node --heap-growing-percent=N` of the operator wins.
 */
function keepHeapNearLiveSize(): void {
  if (process.execArgv.some((a) => a.startsWith('--heap-growing-percent') || a.startsWith('--heap_growing_percent'))) return;
  setFlagsFromString('--heap-growing-percent=30');
}

const program = new Command('ha-agent')
  .description('Keeps a layer-4 load-balancer pair healthy: probes backends, rewrites the netfilter MARK chain, follows keepalived, syncs peers through Redis.')
  .version(VERSION, '-V, --version')
  .showHelpAfterError();

program.command('check-config')
  .description('validate a config file; print every error as "path: message"')
  .argument('[file]', 'config file', DEFAULT_CONFIG)
  .option('--config <file>', 'config file (same as the argument)')
  .action(async (file: string, opts: { config?: string }) => {
    const path = opts.config ?? file;
    checkLogLevel();
    const config = await loadOrExit(path);
    const backends = config.farms.reduce((n, f) => n + f.backends.length, 0);
    // Not errors (the agent runs), but a secret every local user can read is worth fixing.
    for (const warning of await exposureWarnings(path, config.cluster)) process.stderr.write(`warning: ${warning}\n`);
    for (const advice of [...bgpAdvice(config), ...failbackAdvice(config)]) process.stderr.write(`warning: ${advice}\n`);
    process.stdout.write(`${path}: ok (node ${config.node.id}, ${config.farms.length} farms, ${backends} backends, driver ${config.dataplane.driver}` +
      `${config.vrrp ? `, vrrp ${config.vrrp.virtual_router_id}` : ''}${config.cluster ? ', clustered' : ''})\n`);
  });

program.command('render')
  .description('print, without side effects, the ruleset the agent would apply')
  .option('--config <file>', 'config file', DEFAULT_CONFIG)
  .option('--down <farm/backend>', 'treat this backend as down (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
  .addOption(new Option('--driver <driver>', 'rule syntax').choices(['iptables', 'nftables']))
  .action(async (opts: { config: string; down: string[]; driver?: 'iptables' | 'nftables' }) => {
    const config = await loadOrExit(opts.config);
    const { keys, errors } = parseDownList(config, opts.down);
    if (errors.length > 0) throw new CliError(errors.join('\n'), EXIT_USAGE);
    const desired = staticPlan(config, keys, await readMarks(config.node.state_dir));
    const driver = opts.driver ?? config.dataplane.driver;
    if (driver === 'nftables') {
      const { renderNft } = await import('../render/nftables.js');
      process.stdout.write(renderNft(desired));
    } else {
      const { ipv4, ipv6, ipsets } = renderIptables(desired);
      // The rules match the VIP sets, which `ipset restore` creates first: shown as comments so the
      // text stays iptables-restore input.
      const sets = ipsets.split('\n').filter(Boolean).map((line) => `# ${line}\n`).join('');
      process.stdout.write(`# ipset restore input (applied before the rules):\n${sets}`);
      process.stdout.write(ipv6 === undefined ? ipv4 : `${ipv4}# ip6tables-restore input for the IPv6 farms:\n${ipv6}`);
    }
    // dsr/tunnel farms route by mark: the `ip -batch` part, as comments (empty without such farms).
    const { formatRouteBlock } = await import('../apply/route-netfilter.js');
    const { planRoutes } = await import('../route/plan.js');
    process.stdout.write(formatRouteBlock(planRoutes(desired)));
  });

program.command('keepalived')
  .description('print, without side effects, the keepalived.conf the agent would write')
  .option('--config <file>', 'config file', DEFAULT_CONFIG)
  .action(async (opts: { config: string }) => {
    const config = await loadOrExit(opts.config);
    const vrrp = config.vrrp;
    if (!vrrp) throw new CliError(`${opts.config}: no vrrp section, so the agent runs no keepalived (add vrrp: to manage the VIPs)`, EXIT_USAGE);
    const { renderKeepalived } = await import('../render/keepalived.js');
    const { vrrpPaths } = await import('../vrrp/paths.js');
    process.stdout.write(renderKeepalived({ ...config, vrrp }, vrrpPaths(config)));
  });

program.command('run')
  .description('run the daemon (SIGHUP reloads the config, SIGTERM stops and leaves the rules in place)')
  .option('--config <file>', 'config file', DEFAULT_CONFIG)
  .action(async (opts: { config: string }) => {
    keepHeapNearLiveSize();
    checkLogLevel();
    const config = await loadOrExit(opts.config);
    const { runDaemon } = await import('../daemon/main.js');
    await runDaemon(opts.config, config);
  });

program.command('stop')
  .description('stop the running agent of this config (the rules stay); --withdraw first withdraws its VIPs from BGP and waits until BIRD has')
  .option('--config <file>', 'config file (its control socket finds the agent)', DEFAULT_CONFIG)
  .option('--withdraw', 'with bgp: drain the node, wait until BIRD exports no VIP to any peer, then stop')
  .option('--timeout <duration>', 'how long --withdraw waits for BIRD (e.g. 10s)', '10s')
  .action(async (opts: { config: string; withdraw?: boolean; timeout: string }) => {
    const timeoutMs = parseDuration(opts.timeout);
    if (timeoutMs === null) throw new CliError(`ha-agent stop: --timeout ${JSON.stringify(opts.timeout)} is not a duration like 10s or 500ms`, EXIT_USAGE);
    const config = await loadOrExit(opts.config);
    const [{ stopAgent }, { ExecaRunner }] = await Promise.all([import('./stop.js'), import('../apply/runner.js')]);
    await stopAgent(config, { withdraw: Boolean(opts.withdraw), timeoutMs, runner: new ExecaRunner(), say: (line) => void process.stdout.write(`${line}\n`) });
  });

process.on('uncaughtException', (err) => {
  // In the journal each line is an entry of its own: each carries the crit priority (agent/log.ts).
  const prefix = isJournalStream(process.env, 2) ? '<2>' : '';
  process.stderr.write(`${`fatal: ${err.stack ?? err.message}`.split('\n').map((line) => prefix + line).join('\n')}\n`);
  process.exit(EXIT_FAILURE);
});

await runProgram(program, process.argv);
if (process.exitCode === undefined) process.exitCode = EXIT_OK;
