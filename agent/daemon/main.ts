// `ha-agent run`: wires config, checks, engine, netfilter, the services and signals together.
// Wiring only: each part lives in its own module, and each service gets the ports it uses
// (ports.ts) and hands back what it offers, which is installed here.

import { mkdir } from 'node:fs/promises';
import { systemClock } from '../../checks/clock.js';
import { tcpDirect, tcpProbeWarnings } from '../../checks/tcp.js';
import { httpConnectorMode, httpProbeWarnings } from '../../checks/http.js';
import type { Config } from '../../config/schema.js';
import { ConntrackCli } from '../apply/conntrack.js';
import { startConnLog } from '../connlog/start.js';
import { LoadBook } from '../leastconn/loop.js';
import { startLoads } from '../leastconn/service.js';
import { ExecaRunner } from '../apply/runner.js';
import { KernelLimitCounters } from '../apply/kernel-counters.js';
import { SctpGuard } from '../apply/sctp-guard.js';
import { SctpProbe } from '../apply/sctp-probe.js';
import { statusSource } from '../control/snapshot.js';
import { Engine } from '../engine/engine.js';
import { followMaintenance } from '../engine/maintenance.js';
import { persistToStateDir } from '../engine/saver.js';
import { SlowstartRamp, slowstartFactor } from '../engine/slowstart.js';
import { createLogger, effectiveLogLevel, type Logger } from '../log.js';
import { readMarks } from '../state/marks-file.js';
import { readSavedState, writeSavedState } from '../state/store.js';
import { VERSION } from '../version.js';
import { startNotify, type NotifyService } from '../notify/service.js';
import { VrrpView } from '../vrrp/state.js';
import { assertNetworkCapabilities } from './capabilities.js';
import { watchDrift } from './drift.js';
import { createDriftEvents } from './drift-events.js';
import { LocalChecks } from './local-checks.js';
import { createNetfilter } from './netfilter.js';
import { notifierFromEnv, statusLine, type SystemdNotifier } from './notifier.js';
import type { BgpPorts, ClusterOffer, ClusterPorts, ControlPorts, MetricsPorts, NodeAnnouncements, Service, VrrpPorts } from './ports.js';
import { RunningConfig } from './running-config.js';

/** The running daemon as runDaemon starts its services on it. */
interface Daemon {
  readonly control: ControlPorts;
  readonly metrics: MetricsPorts;
  readonly vrrp: VrrpPorts;
  readonly cluster: ClusterPorts;
  readonly bgp: BgpPorts;
  /** The notify hooks: their counters, and the cluster's connection to follow. */
  readonly notify: NotifyService;
  config(): Config;
  reload: RunningConfig['reload'];
  /** Stopped before the daemon, in the reverse order; told of each config put in use. */
  install(name: string, service: Service): void;
  /** Status, control and the checks use what the cluster offers from now on. */
  installCluster(offer: ClusterOffer): void;
  /** `agentctl node drain|enable` reach the BGP speaker from now on. */
  installBgp(speaker: NodeAnnouncements): void;
  stop(): Promise<void>;
}

async function startDaemon(configPath: string, initial: Config, logger: Logger, notifier: SystemdNotifier): Promise<Daemon> {
  const running = await RunningConfig.load(configPath, initial, logger);
  running.onReload({ started: () => notifier.reloading(), finished: () => notifier.reloaded() });
  const config = running.config();
  notifier.starting(`applying ${config.farms.length} farms`);
  await mkdir(config.node.state_dir, { recursive: true, mode: 0o750 });
  await mkdir(config.node.run_dir, { recursive: true, mode: 0o755 });
  const runner = new ExecaRunner();
  await assertNetworkCapabilities();
  // Drift events: subscribed before the first apply, and told each writer the drivers spawn.
  const driftEvents = createDriftEvents(config.dataplane.driver, runner, logger);
  // sctp farms are refused, with the reason, on a kernel that cannot track or NAT SCTP.
  const sctp = new SctpProbe(runner);
  const netfilter = new SctpGuard(await createNetfilter(config, runner, (pid) => driftEvents.markOwn(pid)), {
    probe: () => sctp.probe(), warn: (message) => logger.warn(message),
  });
  // What the kernel refused over the limits, read when /metrics is scraped.
  const overLimits = new KernelLimitCounters(runner, netfilter.driver);
  // leastconn factors and max_conns fullness, from conntrack counts (agent/leastconn).
  const loads = new LoadBook();
  const engine = new Engine({
    netfilter,
    conntrack: new ConntrackCli(runner),
    logger,
    now: Date.now,
    clock: systemClock,
    persist: persistToStateDir(() => running.config().node.state_dir),
    weightFactor: slowstartFactor,
    load: (farm, backend) => loads.view(farm, backend),
  });
  const ramp = new SlowstartRamp(engine, systemClock, Date.now);
  await driftEvents.start();
  await engine.start(config, await readSavedState(config.node.state_dir), await readMarks(config.node.state_dir));

  const checks = new LocalChecks({ engine, runner, logger, now: Date.now });
  const unfollow = followMaintenance({
    on: (listener) => engine.on(listener),
    checks: checks.scheduler,
    scheduledCheck: (farm, backend) => checks.scheduledCheck(farm, backend),
    observe: (farm, backend, health, reason) => checks.observe(farm, backend, health, reason),
  });
  checks.useConfig(config);
  const drift = watchDrift(config.dataplane.verify_schedule, netfilter, engine, logger);
  driftEvents.deliverTo((report) => drift.onEvent(report));
  for (const warning of tcpProbeWarnings()) logger.warn(warning);
  // The http engine is looked at only when a farm checks over plain http.
  const httpChecks = config.farms.some((f) => f.check.type === 'http');
  if (httpChecks) for (const warning of httpProbeWarnings()) logger.warn(warning);
  logger.info({
    version: VERSION, node: config.node.id, farms: config.farms.length, driver: netfilter.driver, tcp_check: tcpDirect.mode,
    ...(httpChecks ? { http_check: httpConnectorMode('http') } : {}),
  }, 'ha-agent running');

  const services: { name: string; service: Service }[] = [];
  let cluster: ClusterOffer | undefined;
  let bgp: NodeAnnouncements | undefined;
  // The services hear of a new config even when applying the rules failed: the engine keeps it and retries.
  running.onChange(async (next) => {
    try {
      const changed = await engine.reload(next);
      checks.useConfig(next);
      return changed;
    } finally {
      for (const { service } of services) service.reconfigure?.(next);
    }
  });

  const vrrp = new VrrpView(Boolean(config.vrrp));
  // First in, so stopped last: hooks still hear what the other services do as they stop.
  const notify = startNotify({ config: running, events: engine, vrrp, runner, logger });
  services.push({ name: 'notify', service: notify });
  // The data path's own services: the load loop and the connection log (agent/leastconn, agent/connlog).
  services.push({ name: 'loads', service: startLoads({ target: engine, book: loads, counter: new ConntrackCli(runner), clock: systemClock, logger }) });
  services.push({ name: 'connlog', service: startConnLog({ config: () => running.config(), marks: () => engine.marks, logger, clock: systemClock }) });
  const status = statusSource({
    config: () => running.config(), startedAt: Date.now(), vrrp, cluster: () => cluster?.view, bgp: () => bgp?.status(),
    engine, driver: netfilter.driver, driftRepairs: () => drift.repairs, drift: () => drift,
  });
  return {
    control: { status, events: engine, backends: engine, config: running, changes: running, rules: netfilter, cluster: () => cluster?.admin, bgp: () => bgp, logger },
    metrics: { status, events: engine, notify, overLimits: () => overLimits.read(engine.desired()), logger },
    vrrp: { config: running, vrrp, logger },
    cluster: { config: running, changes: running, engine, verdicts: checks, vrrp, logger },
    bgp: { config: running, events: engine, desired: () => engine.desired(), logger },
    notify,
    config: () => running.config(),
    reload: () => running.reload(),
    install: (name, service) => void services.push({ name, service }),
    installBgp: (speaker) => {
      bgp = speaker;
    },
    installCluster: (offer) => {
      cluster = offer;
      checks.routeTo(offer.health);
    },
    stop: async () => {
      for (const { name, service } of [...services].reverse()) {
        await service.stop().catch((err: Error) => logger.warn({ service: name, err: err.message }, 'stopping a service failed'));
      }
      drift.stop();
      await driftEvents.stop();
      ramp.stop();
      unfollow();
      await checks.stop();
      await engine.stop();
      await writeSavedState(running.config().node.state_dir, engine.savedState()).catch(() => undefined);
      logger.info('ha-agent stopped; the applied rules stay in place');
    },
  };
}

/** Runs until SIGTERM/SIGINT; SIGHUP reloads. */
export async function runDaemon(configPath: string, config: Config): Promise<void> {
  const logger = createLogger(effectiveLogLevel(config.log.level));
  // Node's default for SIGHUP is to exit: one that comes while the agent starts (a reload right
  // after a restart, a log rotation) would kill it. It is kept, and the reload runs once started.
  let hupWhileStarting = false;
  const hupEarly = () => {
    hupWhileStarting = true;
    logger.info('SIGHUP while starting: the config is reloaded once started');
  };
  process.on('SIGHUP', hupEarly);
  // Read before anything is spawned: children must not inherit NOTIFY_SOCKET. Pings start now.
  const notifier = notifierFromEnv(logger);
  notifier.start();
  // A second agent must exit before it adopts the kernel's rules or writes the state dir.
  const { assertNoLiveAgent } = await import('../control/socket.js');
  await assertNoLiveAgent(config.control.socket).catch((err: Error) => {
    logger.fatal({ err: err.message }, 'cannot start');
    process.exit(1);
  });
  const daemon = await startDaemon(configPath, config, logger, notifier);
  try {
    const { startControl } = await import('../control/server.js');
    daemon.install('control', await startControl(daemon.control));
    const listen = daemon.config().control.metrics;
    if (listen !== undefined) {
      const { startMetrics } = await import('../metrics/server.js');
      daemon.install('metrics', await startMetrics(daemon.metrics, listen));
    }
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'cannot start the control socket or the metrics server');
    await daemon.stop();
    process.exit(1);
  }
  if (daemon.config().vrrp) {
    try {
      const { startVrrp } = await import('../vrrp/service.js');
      daemon.install('vrrp', await startVrrp(daemon.vrrp));
    } catch (err) {
      logger.fatal({ err: (err as Error).message }, 'cannot start keepalived / conntrackd');
      await daemon.stop();
      process.exit(1);
    }
  }
  // --- bgp (agent/bgp): BIRD announcing the VIPs; its clean stop keeps them announced.
  if (daemon.config().bgp) {
    try {
      const { startBgp } = await import('../bgp/service.js');
      const speaker = await startBgp(daemon.bgp);
      daemon.installBgp(speaker);
      daemon.install('bgp', speaker);
    } catch (err) {
      logger.fatal({ err: (err as Error).message }, 'cannot start the BGP speaker');
      await daemon.stop();
      process.exit(1);
    }
  }
  // --- end bgp
  const clusterConfig = daemon.config().cluster;
  if (clusterConfig) {
    // Redis trouble is not fatal: the agent runs standalone and resynchronises when it returns.
    const { createCluster } = await import('../cluster/service.js');
    const { RedisPeerStore } = await import('../cluster/store.js');
    const store = new RedisPeerStore(clusterConfig);
    daemon.notify.followCluster(store);
    const cluster = createCluster(daemon.cluster, clusterConfig, { store });
    daemon.installCluster(cluster);
    daemon.install('cluster', cluster);
    await cluster.start();
  }
  const reload = () => void daemon.reload().catch((err: Error) => logger.error({ err: err.message }, 'reload failed'));
  process.off('SIGHUP', hupEarly);
  process.on('SIGHUP', reload);
  if (hupWhileStarting) reload();
  // systemd: READY=1 now that the first apply is in the kernel (startDaemon's engine.start waits
  // for it), the control socket listens and the services run; the status line follows changes.
  notifier.ready(() => statusLine(daemon.metrics.status.status()));
  daemon.metrics.events.on((event) => {
    if (event.type !== 'check') notifier.changed();
  });
  daemon.vrrp.vrrp.on(() => notifier.changed());
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      notifier.stopping();
      logger.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await daemon.stop();
  notifier.stop();
  process.exit(0);
}
