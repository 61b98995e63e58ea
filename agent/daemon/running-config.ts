// The config in use: the file's, with the farms pushed through the cluster in place of its own
// (kept across restarts). Reloads and cluster pushes run one at a time, in the order asked; each
// config put in use is handed to `use`, which brings the engine, the checks and services to it.

import { formatIssues, issueLines, loadConfigFile } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../log.js';
import { readAppliedShared } from '../state/shared-config.js';
import { serialQueue } from '../util/serial.js';
import type { ConfigChanges, ConfigSource, ReloadOutcome } from './ports.js';

/** Puts a validated config in use; the farms that changed. */
export type UseConfig = (config: Config) => Promise<string[]>;

/** Told when a reload of the file starts and when it is over, applied or refused (systemd's RELOADING=1, READY=1). */
export interface ReloadHooks {
  started(): void;
  finished(): void;
}

export class RunningConfig implements ConfigSource, ConfigChanges {
  private current: Config;
  private sharedFarms: readonly unknown[] | null;
  private revision: number;
  private readonly queue = serialQueue();
  private use: UseConfig = async () => [];
  private hooks: ReloadHooks | undefined;

  private constructor(readonly configPath: string, config: Config, shared: { farms: readonly unknown[]; rev: number } | null, private readonly logger: Logger) {
    this.current = config;
    this.sharedFarms = shared?.farms ?? null;
    this.revision = shared?.rev ?? 0;
  }

  /** The file's config, with the cluster's shared farms this node applied before a restart when they still validate. */
  static async load(configPath: string, initial: Config, logger: Logger): Promise<RunningConfig> {
    const applied = initial.cluster ? await readAppliedShared(initial.node.state_dir) : null;
    if (applied) {
      const merged = await loadConfigFile(configPath, {}, applied.farms);
      if (merged.ok) {
        logger.info({ revision: applied.rev }, `using the cluster's shared farms (revision ${applied.rev})`);
        return new RunningConfig(configPath, merged.config, applied, logger);
      }
    }
    return new RunningConfig(configPath, initial, null, logger);
  }

  /** What puts each later config in use (set once the engine and checks exist). */
  onChange(use: UseConfig): void {
    this.use = use;
  }

  /** Who hears of each reload of the file (cluster pushes are not reloads). */
  onReload(hooks: ReloadHooks): void {
    this.hooks = hooks;
  }

  config(): Config {
    return this.current;
  }

  sharedRevision(): number {
    return this.revision;
  }

  applySharedFarms(farms: readonly unknown[], revision: number): Promise<string | null> {
    return this.queue.run(async () => {
      const result = await loadConfigFile(this.configPath, {}, farms);
      if (!result.ok) return `revision ${revision}: ${issueLines(result.issues).join('; ')}`;
      this.sharedFarms = farms;
      this.revision = revision;
      const changed = await this.swap(result.config);
      this.logger.info({ changed, revision }, `cluster config revision ${revision} applied (${changed.length} farms changed)`);
      return null;
    });
  }

  reload(): Promise<ReloadOutcome> {
    return this.queue.run(async (): Promise<ReloadOutcome> => {
      this.hooks?.started();
      try {
        return await this.reloadFile();
      } finally {
        this.hooks?.finished();
      }
    });
  }

  private async reloadFile(): Promise<ReloadOutcome> {
    const result = await loadConfigFile(this.configPath, {}, this.sharedFarms);
    if (!result.ok) {
      this.logger.error({ errors: result.issues }, `reload refused, keeping the running config:\n${formatIssues(result.issues)}`);
      return { ok: false, errors: issueLines(result.issues) };
    }
    const localChanges = (['node', 'control', 'log'] as const).filter((k) => JSON.stringify(result.config[k]) !== JSON.stringify(this.current[k]));
    if (localChanges.length > 0) this.logger.warn({ sections: localChanges }, 'changes to these sections take effect after a restart');
    const changed = await this.swap(result.config);
    this.logger.info({ changed }, `config reloaded (${changed.length} farms changed)`);
    return { ok: true, changed };
  }

  private swap(next: Config): Promise<string[]> {
    this.current = next;
    return this.use(next);
  }
}
