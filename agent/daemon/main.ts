// `ha-agent run`: wires config, checks, engine, netfilter, control socket and signals together.

import { mkdir } from 'node:fs/promises';
import { loadConfigFile, formatIssues, issueLines, withSharedFarms } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { Scheduler } from '../../checks/scheduler.js';
import { probeFor } from '../../checks/probe.js';
import { tcpDirect, tcpProbeWarnings } from '../../checks/tcp.js';
import { slowstartWeight } from '../../checks/slowstart.js';
import { createLogger, type Logger } from '../log.js';
import { ExecaRunner } from '../apply/runner.js';
import { IptablesRestore } from '../apply/iptables.js';
import { ConntrackCli } from '../apply/conntrack.js';
import type { Netfilter } from '../apply/netfilter.js';
import { Engine } from '../engine/engine.js';
import { readSavedState, writeSavedState } from '../state/store.js';
import { readMarks, writeMarks } from '../state/marks-file.js';
import { scheduledChecks } from './targets.js';
import { watchDrift, type DriftWatch } from './drift.js';
import { VERSION } from '../version.js';
import { markKey } from '../plan/marks.js';
import type { Runner } from '../apply/runner.js';
import { VrrpView } from '../vrrp/state.js';
import type { ClusterView } from '../control/status.js';
import type { Health } from '../plan/plan.js';
import { readAppliedShared } from '../state/shared-config.js';

export interface Daemon {
  readonly engine: Engine;
  readonly scheduler: Scheduler;
  readonly drift: DriftWatch;
  readonly netfilter: Netfilter;
  readonly logger: Logger;
  readonly configPath: string;
  readonly startedAt: number;
  /** Followed from keepalived by the vrrp module; DISABLED without a vrrp section. */
  readonly vrrp: VrrpView;
  /** Set by the cluster module when clustered; status says `disabled` while absent. */
  cluster?: ClusterView;
  /**
   * Started with the daemon and stopped before it (control socket, keepalived, cluster sync).
   * `reconfigure` is told of each config a reload or a cluster push puts in use, without being
   * awaited: the service orders and reports its own work.
   */
  readonly services: { name: string; stop(): Promise<void>; reconfigure?(config: Config): void }[];
  /** This node's own probe verdicts and their reasons; with a cluster policy the engine may apply another view. */
  readonly localHealth: Map<string, Health>;
  readonly localReasons: Map<string, string>;
  /** Applies farms shared through the cluster over this node's own config; the error text when refused. */
  applySharedFarms(farms: readonly unknown[], revision: number): Promise<string | null>;
  /** The shared config revision running now (0: the file's own farms). */
  sharedRevision(): number;
  config(): Config;
  /** Re-reads the config file; on error returns the issues and keeps the running config. */
  reload(): Promise<{ ok: true; changed: string[] } | { ok: false; errors: string[] }>;
  stop(): Promise<void>;
}

export async function createNetfilter(config: Config, runner: Runner): Promise<Netfilter> {
  switch (config.dataplane.driver) {
    case 'iptables':
      return new IptablesRestore(runner);
    case 'nftables': {
      const { NftCli } = await import('../apply/nftables.js');
      return new NftCli(runner);
    }
    default: {
      const never: never = config.dataplane.driver;
      throw new Error(`unknown driver ${String(never)}`);
    }
  }
}

async function startDaemon(configPath: string, initial: Config, logger: Logger = createLogger()): Promise<Daemon> {
  let config = initial;
  // Farms pushed through the cluster replace the file's farms, also across restarts.
  let sharedFarms: readonly unknown[] | null = null;
  let sharedRevision = 0;
  const applied = initial.cluster ? await readAppliedShared(initial.node.state_dir) : null;
  if (applied) {
    const merged = withSharedFarms(await loadConfigFile(configPath), applied.farms);
    if (merged.ok) {
      config = merged.config;
      sharedFarms = applied.farms;
      sharedRevision = applied.rev;
      logger.info({ revision: applied.rev }, `using the cluster's shared farms (revision ${applied.rev})`);
    }
  }
  const localHealth = new Map<string, Health>();
  const localReasons = new Map<string, string>();
  await mkdir(config.node.state_dir, { recursive: true, mode: 0o750 });
  await mkdir(config.node.run_dir, { recursive: true, mode: 0o755 });
  const runner = new ExecaRunner();
  const netfilter = await createNetfilter(config, runner);
  let lastMarks: ReadonlyMap<string, number> | undefined;
  const engine = new Engine({
    netfilter,
    conntrack: new ConntrackCli(runner),
    logger,
    now: Date.now,
    persist: async (backends, marks) => {
      await writeSavedState(config.node.state_dir, backends);
      // The engine replaces its marks map only on start and reload: the same map needs no look
      // (writeMarks leaves the file alone when a new map holds the same marks).
      if (marks !== lastMarks) {
        await writeMarks(config.node.state_dir, marks);
        lastMarks = marks;
      }
    },
    weightFactor: (farm, rt, now) => (rt.upSince === undefined ? 1 : slowstartWeight(rt.upSince, farm.check.slowstart, now).factor),
  });

  const slowstartTimers = new Map<string, NodeJS.Timeout>();
  const scheduler = new Scheduler({
    probeFor: (check) => probeFor(check, { runner }),
    // A literal, not `{ ...result, at }`: V8 promotes those spread copies to the old generation
    // by the thousand a second (measured with bench/capacity.ts), an object literal dies young.
    onResult: (target, result) => engine.recordCheck(target.farm, target.backend, { ok: result.ok, message: result.message, latencyMs: result.latencyMs, at: Date.now() }),
    onTransition: (target, transition) => observeLocal(target.farm, target.backend, transition.to, transition.reason),
    onError: (err) => logger.error({ err: String(err) }, 'check callback failed'),
  });

  /** A verdict of this node's own checks: the engine applies it, or the cluster's policy decides. */
  function observeLocal(farm: string, backend: string, health: Health, reason: string): void {
    const key = markKey(farm, backend);
    localHealth.set(key, health);
    localReasons.set(key, reason);
    const sync = daemon.cluster?.sync;
    if (sync) sync.observe(key);
    else engine.setHealth(farm, backend, health, reason);
  }

  // Slow start: re-plan the farm at each step of a recovering backend's ramp.
  engine.on((event) => {
    if (event.type === 'transition' && event.to === 'up') rampSlowstart(event.farm, event.backend);
    if (event.type === 'admin') followAdmin(event.farm, event.backend, event.from, event.to);
  });
  function rampSlowstart(farm: string, backend: string): void {
    const farmConfig = engine.farmConfig(farm);
    const rt = engine.runtime.get(markKey(farm, backend));
    if (!farmConfig?.check.slowstart || rt?.upSince === undefined) return;
    const next = slowstartWeight(rt.upSince, farmConfig.check.slowstart, Date.now()).nextStepAt;
    clearTimeout(slowstartTimers.get(markKey(farm, backend)));
    if (next === null) return;
    slowstartTimers.set(markKey(farm, backend), setTimeout(() => {
      engine.replan(farm);
      rampSlowstart(farm, backend);
    }, Math.max(0, next - Date.now())));
  }
  /** Maintenance pauses the checks; leaving it, the backend must pass `rise` checks again. */
  function followAdmin(farm: string, backend: string, from: string, to: string): void {
    const key = markKey(farm, backend);
    if (to === 'maintenance') {
      scheduler.pause(key);
      return;
    }
    if (from !== 'maintenance') return;
    const farmConfig = engine.farmConfig(farm);
    const item = farmConfig && scheduledChecks({ ...config, farms: [farmConfig] }, () => undefined).find((c) => c.target.backend === backend);
    if (!item || farmConfig.check.type === 'none') {
      scheduler.resume(key);
      return;
    }
    observeLocal(farm, backend, 'down', 'leaving maintenance: waiting for checks to pass');
    scheduler.remove(key);
    scheduler.add({ ...item, initial: 'down' });
  }

  const saved = await readSavedState(config.node.state_dir);
  await engine.start(config, saved, await readMarks(config.node.state_dir));
  for (const [key, rt] of engine.runtime) localHealth.set(key, rt.health);
  const startChecks = () => {
    scheduler.replaceAll(scheduledChecks(config, (key) => engine.runtime.get(key)?.health));
    for (const farm of config.farms) {
      for (const b of farm.backends) if (engine.adminOf(farm, b.name) === 'maintenance') scheduler.pause(markKey(farm.name, b.name));
    }
  };
  startChecks();
  const drift = watchDrift(config.dataplane.verify_schedule, netfilter, engine, logger);
  for (const warning of tcpProbeWarnings()) logger.warn(warning);
  logger.info({ version: VERSION, node: config.node.id, farms: config.farms.length, driver: netfilter.driver, tcp_check: tcpDirect.mode }, 'ha-agent running');

  let reloading: Promise<unknown> = Promise.resolve();
  /** Config changes run one at a time, in the order asked; one that fails does not stop the next. */
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = reloading.then(task);
    reloading = run.catch(() => undefined);
    return run;
  };
  /**
   * Puts a validated config in use (engine, then checks) and tells the services; the farms that
   * changed. The services hear of it even when applying the rules failed: the engine keeps the
   * new config and retries.
   */
  const swap = async (next: Config): Promise<string[]> => {
    config = next;
    try {
      const changed = await engine.reload(config);
      startChecks();
      return changed;
    } finally {
      for (const service of daemon.services) service.reconfigure?.(config);
    }
  };
  const daemon: Daemon = {
    engine, scheduler, drift, netfilter, logger, configPath, startedAt: Date.now(),
    vrrp: new VrrpView(Boolean(config.vrrp)),
    services: [],
    localHealth, localReasons,
    config: () => config,
    sharedRevision: () => sharedRevision,
    applySharedFarms: (farms, revision) => serial(async () => {
      const result = withSharedFarms(await loadConfigFile(configPath), farms);
      if (!result.ok) return `revision ${revision}: ${issueLines(result.issues).join('; ')}`;
      sharedFarms = farms;
      sharedRevision = revision;
      const changed = await swap(result.config);
      logger.info({ changed, revision }, `cluster config revision ${revision} applied (${changed.length} farms changed)`);
      return null;
    }),
    reload: () => serial(async () => {
      const result = withSharedFarms(await loadConfigFile(configPath), sharedFarms);
      if (!result.ok) {
        logger.error({ errors: result.issues }, `reload refused, keeping the running config:\n${formatIssues(result.issues)}`);
        return { ok: false as const, errors: issueLines(result.issues) };
      }
      const localChanges = (['node', 'control'] as const).filter((k) => JSON.stringify(result.config[k]) !== JSON.stringify(config[k]));
      if (localChanges.length > 0) logger.warn({ sections: localChanges }, 'changes to these sections take effect after a restart');
      const changed = await swap(result.config);
      logger.info({ changed }, `config reloaded (${changed.length} farms changed)`);
      return { ok: true as const, changed };
    }),
    stop: async () => {
      for (const service of [...daemon.services].reverse()) {
        await service.stop().catch((err: Error) => logger.warn({ service: service.name, err: err.message }, 'stopping a service failed'));
      }
      drift.stop();
      for (const t of slowstartTimers.values()) clearTimeout(t);
      await scheduler.stop();
      await engine.flushPersist();
      await writeSavedState(config.node.state_dir, engine.savedState()).catch(() => undefined);
      logger.info('ha-agent stopped; the applied rules stay in place');
    },
  };
  return daemon;
}

/** Runs until SIGTERM/SIGINT; SIGHUP reloads. */
export async function runDaemon(configPath: string, config: Config): Promise<void> {
  const logger = createLogger();
  // A second agent must exit before it adopts the kernel's rules or writes the state dir.
  const { assertNoLiveAgent } = await import('../control/socket.js');
  await assertNoLiveAgent(config.control.socket).catch((err: Error) => {
    logger.fatal({ err: err.message }, 'cannot start');
    process.exit(1);
  });
  const daemon = await startDaemon(configPath, config, logger);
  try {
    const { startControl } = await import('../control/server.js');
    daemon.services.push({ name: 'control', ...(await startControl(daemon)) });
    const listen = daemon.config().control.metrics;
    if (listen !== undefined) {
      const { startMetrics } = await import('../metrics/server.js');
      daemon.services.push({ name: 'metrics', ...(await startMetrics(daemon, listen)) });
    }
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'cannot start the control socket or the metrics server');
    await daemon.stop();
    process.exit(1);
  }
  if (daemon.config().vrrp) {
    try {
      const { startVrrp } = await import('../vrrp/service.js');
      daemon.services.push({ name: 'vrrp', ...(await startVrrp(daemon)) });
    } catch (err) {
      logger.fatal({ err: (err as Error).message }, 'cannot start keepalived / conntrackd');
      await daemon.stop();
      process.exit(1);
    }
  }
  const cluster = daemon.config().cluster;
  if (cluster) {
    // Redis trouble is not fatal: the agent runs standalone and resynchronises when it returns.
    const { startCluster } = await import('../cluster/service.js');
    await startCluster(daemon, cluster);
  }
  process.on('SIGHUP', () => void daemon.reload().catch((err: Error) => logger.error({ err: err.message }, 'reload failed')));
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await daemon.stop();
  process.exit(0);
}
