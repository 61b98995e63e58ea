// A running topology: run commands in its hosts, change routes/links, and tear it all down.
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { buildTopology, ip, nsNameFor, routeArgs } from './build.js';
import { fixturePath, type FixtureName } from './fixtures.js';
import { spawnInNs, type NsProcess } from './process.js';
import { SWITCH_HOST, linkIfname, parseTopology, type HostSpec, type RouteSpec, type TopologySpec } from './spec.js';
import { deleteNetns, deleteNetnsSync, listNetns, track, untrack, type Teardownable } from './teardown.js';

export interface ExecOptions {
  /** Default 30 s; the command is killed after it. */
  timeoutMs?: number;
  /** Default true: a non-zero exit throws. */
  reject?: boolean;
  input?: string;
  env?: Record<string, string>;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  failed: boolean;
  command: string;
}

function randomPrefix(): string {
  const n = randomBytes(4).readUInt32BE(0) % 36 ** 5;
  return `hat${n.toString(36).padStart(5, '0')}`;
}

async function uniquePrefix(): Promise<string> {
  const existing = await listNetns();
  for (let i = 0; i < 5; i++) {
    const p = randomPrefix();
    if (!existing.some((n) => n.startsWith(`${p}-`))) return p;
  }
  throw new Error('could not pick an unused namespace prefix in 5 tries');
}

export class Lab implements Teardownable {
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<NsProcess>();
  private destroyed = false;

  private constructor(
    readonly prefix: string,
    readonly spec: TopologySpec,
  ) {}

  /** Validates `spec` and builds it; on any failure, removes whatever was created and rethrows. */
  static async create(input: TopologySpec, opts: { prefix?: string } = {}): Promise<Lab> {
    const spec = parseTopology(input);
    const lab = new Lab(opts.prefix ?? (await uniquePrefix()), spec);
    track(lab);
    try {
      await buildTopology(spec, lab.prefix, (ns) => lab.namespaces.push(ns));
    } catch (err) {
      await lab.destroy().catch(() => undefined);
      throw err;
    }
    return lab;
  }

  get hostNames(): string[] {
    return this.spec.hosts.map((h) => h.name);
  }

  /** Namespace name of `host` (or of the switch, `sw`). */
  nsName(host: string): string {
    if (host !== SWITCH_HOST) this.host(host);
    return nsNameFor(this.prefix, host);
  }

  /** Interface name `host` uses on `bridge` (e.g. for `ip addr add VIP dev <iface>`). */
  iface(host: string, bridge: string): string {
    return linkIfname(this.host(host), bridge);
  }

  async exec(host: string, cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    this.assertLive();
    const r = await execa('ip', ['netns', 'exec', this.nsName(host), cmd, ...args], {
      timeout: opts.timeoutMs ?? 30_000,
      reject: false,
      ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
      ...(opts.env !== undefined ? { env: opts.env } : {}),
    });
    const result: ExecResult = {
      stdout: String(r.stdout ?? ''),
      stderr: String(r.stderr ?? ''),
      exitCode: r.exitCode,
      failed: r.failed,
      command: `[${host}] ${[cmd, ...args].join(' ')}`,
    };
    if (result.failed && (opts.reject ?? true)) {
      const why = r.timedOut ? `timed out after ${opts.timeoutMs ?? 30_000} ms` : `exit ${String(r.exitCode ?? r.signal)}`;
      throw new Error(`${result.command}: ${why}: ${result.stderr.trim().slice(-500)}`);
    }
    return result;
  }

  /** Starts a long-running program in `host`; destroy() stops it. */
  spawn(host: string, cmd: string, args: readonly string[] = []): NsProcess {
    this.assertLive();
    const proc = spawnInNs(host, this.nsName(host), cmd, args);
    this.procs.add(proc);
    return proc;
  }

  /** Runs a compiled fixture (dist/test/fixtures/bin/<name>.js) to completion in `host`. */
  execFixture(host: string, name: FixtureName, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(host, process.execPath, [fixturePath(name), ...args], opts);
  }

  spawnFixture(host: string, name: FixtureName, args: readonly string[] = []): NsProcess {
    return this.spawn(host, process.execPath, [fixturePath(name), ...args]);
  }

  /** Starts the name-server fixture (it answers with its name) in `host` once it listens. */
  async serveName(host: string, name = host, port = 8080, extra: readonly string[] = []): Promise<NsProcess> {
    const server = this.spawnFixture(host, 'name-server', ['--port', String(port), '--name', name, ...extra]);
    await server.waitForLine('listening');
    return server;
  }

  /** Adds or replaces a route; `route.dev` names a bridge, as in the spec. */
  async setRoute(host: string, route: RouteSpec): Promise<void> {
    const spec = this.host(host);
    await ip(['-n', this.nsName(host), 'route', 'replace', ...routeArgs(route, (b) => linkIfname(spec, b))]);
  }

  /** Deletes the route to `to` ('default' or a CIDR). */
  async delRoute(host: string, to: string): Promise<void> {
    await ip(['-n', this.nsName(host), 'route', 'del', to]);
  }

  /** Brings `host`'s link on `bridge` up or down (cable pull). */
  async setLink(host: string, bridge: string, state: 'up' | 'down'): Promise<void> {
    await ip(['-n', this.nsName(host), 'link', 'set', this.iface(host, bridge), state]);
  }

  async addAddress(host: string, bridge: string, cidr: string): Promise<void> {
    await ip(['-n', this.nsName(host), 'addr', 'add', cidr, 'dev', this.iface(host, bridge)]);
  }

  async delAddress(host: string, bridge: string, cidr: string): Promise<void> {
    await ip(['-n', this.nsName(host), 'addr', 'del', cidr, 'dev', this.iface(host, bridge)]);
  }

  /** Stops every spawned process, kills anything else in the namespaces, deletes them. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      await Promise.all([...this.procs].map((p) => p.stop(1000)));
      // Hosts before the switch: deleting a host namespace removes its veth ends first.
      for (const ns of [...this.namespaces].reverse()) await deleteNetns(ns);
      const left = (await listNetns()).filter((n) => n.startsWith(`${this.prefix}-`));
      for (const ns of left) await deleteNetns(ns);
      const still = (await listNetns()).filter((n) => n.startsWith(`${this.prefix}-`));
      if (still.length > 0) throw new Error(`namespaces left after destroy: ${still.join(', ')}`);
    } finally {
      untrack(this);
    }
  }

  /** Last-resort teardown from exit/signal handlers: SIGKILL and delete, no awaiting. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.procs) {
      if (p.pid !== undefined && !p.exited) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const ns of [...this.namespaces].reverse()) deleteNetnsSync(ns);
  }

  private host(name: string): HostSpec {
    const host = this.spec.hosts.find((h) => h.name === name);
    if (!host) throw new Error(`unknown host "${name}" (hosts: ${this.hostNames.join(', ')})`);
    return host;
  }

  private assertLive(): void {
    if (this.destroyed) throw new Error(`lab ${this.prefix} is destroyed`);
  }
}
