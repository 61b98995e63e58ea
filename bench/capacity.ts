// Benchmark: health-check capacity. The real daemon (`ha-agent run`, checks every 1 s) and
// HAProxy 2.6 (one thread, `check inter 1s`, no traffic) probe the SAME loopback servers, one
// after the other, in a fresh network namespace per size; CPU (utime+stime) and RSS of each are
// sampled from /proc over a fixed window after a warm-up. Probes achieved are counted by the
// SYNs each sends (a counting rule in the namespace's raw table), the same way for both. Each
// size runs BENCH_REPEAT times and the median of the repeats is reported (a best-of would hide
// how often the agent loses), with every repeat kept in `runs`.
//
// Env: BENCH_WINDOW_S (20), BENCH_WARMUP_S (5), BENCH_REPEAT (3), BENCH_SIZES ("1000,5000,10000"),
// BENCH_CHECK (tcp | http | https, see CHECK), BENCH_AGENT_NODE_ARGS (node flags for the agent,
// space-separated; default: the NODE_OPTIONS of systemd/ha-agent.service), BENCH_SERVERS
// (node | defer, see SERVERS), BENCH_DRIVER (iptables | nftables, see DRIVER),
// HA_AGENT_TCP_PROBE / HA_AGENT_HTTP_PROBE (the agent's check modes, see checks/tcp.ts and
// checks/http.ts); settings other than the defaults record bench/results/capacity-<setting>.json.

import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createLab, sleep, waitFor, type Lab, type NsProcess } from '../test/netns/topology.js';
import { agentDir, agentctlBin, haAgentBin, type AgentDir } from '../test/support/agent.js';
import { repoPath } from '../test/support/repo.js';
import { recordResult } from './results.js';
import { tcpDirect } from '../checks/tcp.js';
import { httpConnectorMode } from '../checks/http.js';
import { BACKEND_PORT, backendAddress } from './capacity-net.js';

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const WINDOW_S = num('BENCH_WINDOW_S', 20);
const WARMUP_S = num('BENCH_WARMUP_S', 5);
const REPEAT = Math.min(5, Math.floor(num('BENCH_REPEAT', 3)));
const SIZES = (process.env.BENCH_SIZES ?? '1000,5000,10000').split(',').map((s) => Number(s.trim()));
/** The NODE_OPTIONS of systemd/ha-agent.service, so the agent runs as deployed. */
function unitNodeOptions(): string {
  const unit = readFileSync(repoPath('systemd/ha-agent.service'), 'utf8');
  return /^Environment=NODE_OPTIONS=(.*)$/m.exec(unit)?.[1]?.replace(/^"|"$/g, '') ?? '';
}
const AGENT_NODE_ARGS = (process.env.BENCH_AGENT_NODE_ARGS ?? unitNodeOptions()).split(' ').filter(Boolean);
/** Listeners per server process (file descriptors stay well under the 20k limit). */
const PER_SERVER = 5000;
/** Backends per farm in the agent's config (each farm gets its own loopback VIP). */
const FARM_SIZE = 100;
const HOST = 'lb';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const serverBin = repoPath('dist/bench/capacity-server.js');
/**
 * `node` (default): Node servers that accept and close. `defer`: bare listeners with
 * TCP_DEFER_ACCEPT (Python), which never complete a handshake that carries no data. On loopback
 * the kernel work a probe causes on the server side is charged to the prober's system time.
 * HAProxy never completes the handshake (TCP_QUICKACK off, RST before the final ACK), nor does
 * the agent's native check engine (native/tcp_check.c); the JavaScript fallback
 * (HA_AGENT_TCP_PROBE=net) does, and pay for the server's child socket, wake-up and accept
 * with `node` servers. `defer` takes that server-side work out, as on a real network where it
 * happens on the backend machines.
 */
const SERVERS = process.env.BENCH_SERVERS === 'defer' ? 'defer' : 'node';
/**
 * `tcp` (default): connect checks against SERVERS. `http`: `GET /` checks (the agent's
 * `type: http`, HAProxy's `option httpchk GET /`); `https`: the same over TLS (HAProxy's
 * `check-ssl verify none`, the agent's `type: https` without verify). For both, the servers are
 * one HAProxy (one thread) answering 200 on port BACKEND_PORT of every local address, over TLS
 * with an EC P-256 certificate for https.
 */
const CHECKS = ['tcp', 'http', 'https'] as const;
type CheckKind = (typeof CHECKS)[number];
const CHECK: CheckKind = CHECKS.find((c) => c === (process.env.BENCH_CHECK ?? 'tcp')) ?? (() => {
  throw new Error(`BENCH_CHECK must be one of ${CHECKS.join(', ')}`);
})();
/**
 * Every packet of every probe (the agent's and HAProxy's) crosses the agent's rules. With the
 * iptables driver (the default) the farm dispatch is linear: 2 rules per farm per packet
 * (PREROUTING mark dispatch, INPUT reject), so with 100 farms it costs both probers more than
 * their checks on loopback, where receive processing is charged to the sender. The nftables
 * driver dispatches through a verdict map, O(1) per packet.
 */
const DRIVER = process.env.BENCH_DRIVER === 'nftables' ? 'nftables' : 'iptables';
/** The agent's check mode when forced (HA_AGENT_TCP_PROBE, HA_AGENT_HTTP_PROBE); the agent inherits it. */
const PROBE = CHECK === 'tcp' ? process.env.HA_AGENT_TCP_PROBE : process.env.HA_AGENT_HTTP_PROBE;
/** The defaults record bench/results/capacity.json; other settings capacity-<what differs>.json. */
const RESULT_NAME = ['capacity', ...(CHECK === 'tcp' ? [] : [CHECK]), ...(SERVERS === 'node' || CHECK !== 'tcp' ? [] : [SERVERS]),
  ...(DRIVER === 'iptables' ? [] : [DRIVER]), ...(PROBE ? [PROBE] : [])].join('-');
const DEFER_SERVER = `
import socket, sys, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
start, count, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def addr(i): return "127.%d.%d.%d" % (1 + i // 64000, (i % 64000) // 250, 1 + i % 250)
socks = []
for i in range(start, start + count):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 30)
    s.bind((addr(i), port))
    s.listen(511)
    socks.append(s)
print("listening", len(socks), flush=True)
while True:
    time.sleep(3600)
`;

interface Usage {
  cpu_pct: number;
  /** The kernel's share of cpu_pct (stime). */
  cpu_pct_sys: number;
  rss_mb_peak: number;
  rss_mb_mean: number;
  /** VmHWM at the end of the window: peak RSS over the whole life, start-up included. */
  rss_mb_hwm: number;
  probes_per_s: number;
  failures: number;
  load1: [number, number];
}

interface ProcSample { ticks: number; sysTicks: number; rssKb: number; hwmKb: number }

function readProc(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm) ": state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { ticks: Number(fields[11]) + Number(fields[12]), sysTicks: Number(fields[12]), rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

const load1 = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * SYNs sent to the backends so far: one per probe, counted by a rule of our own in the raw table
 * (the agent never touches it). The servers cannot count: HAProxy answers the SYN-ACK with a RST
 * before the handshake completes, so its probes never reach accept().
 */
const COUNT_CHAIN = 'CAPACITY-PROBES';
async function installProbeCounter(lab: Lab): Promise<void> {
  await lab.exec(HOST, 'iptables', ['-w', '-t', 'raw', '-N', COUNT_CHAIN]);
  await lab.exec(HOST, 'iptables', ['-w', '-t', 'raw', '-A', COUNT_CHAIN, '-p', 'tcp', '--syn', '--dport', String(BACKEND_PORT)]);
  await lab.exec(HOST, 'iptables', ['-w', '-t', 'raw', '-I', 'OUTPUT', '-j', COUNT_CHAIN]);
}
async function probesSent(lab: Lab): Promise<number> {
  const r = await lab.exec(HOST, 'iptables', ['-w', '-t', 'raw', '-L', COUNT_CHAIN, '-n', '-v', '-x']);
  const row = r.stdout.split('\n').find((l) => /^\s*\d+\s+\d+\s/.test(l));
  if (!row) throw new Error(`no counter row in: ${r.stdout}`);
  return Number(row.trim().split(/\s+/)[0]);
}

/** Samples `pid` once a second for the window; the servers' CPU is sampled too, and reported apart. */
async function measure(lab: Lab, pid: number, servers: readonly NsProcess[]): Promise<{ usage: Omit<Usage, 'failures'>; serversCpuPct: number }> {
  const serverPids = servers.map((s) => s.pid!);
  const serverTicks = () => serverPids.reduce((sum, p) => sum + readProc(p).ticks, 0);
  const loadBefore = load1();
  const probesBefore = await probesSent(lab);
  const started = performance.now();
  const first = readProc(pid);
  const serversFirst = serverTicks();
  const rss: number[] = [first.rssKb];
  let last = first;
  for (let i = 0; i < Math.round(WINDOW_S); i++) {
    await sleep(Math.max(0, started + (i + 1) * 1000 - performance.now()));
    last = readProc(pid);
    rss.push(last.rssKb);
  }
  const elapsedS = (performance.now() - started) / 1000;
  const serversCpuPct = ((serverTicks() - serversFirst) / CLK_TCK / elapsedS) * 100;
  const probes = (await probesSent(lab)) - probesBefore;
  return {
    usage: {
      cpu_pct: round(((last.ticks - first.ticks) / CLK_TCK / elapsedS) * 100),
      cpu_pct_sys: round(((last.sysTicks - first.sysTicks) / CLK_TCK / elapsedS) * 100),
      rss_mb_peak: round(Math.max(...rss) / 1024),
      rss_mb_mean: round(rss.reduce((a, b) => a + b, 0) / rss.length / 1024),
      rss_mb_hwm: round(last.hwmKb / 1024),
      probes_per_s: Math.round(probes / elapsedS),
      load1: [loadBefore, load1()],
    },
    serversCpuPct: round(serversCpuPct),
  };
}

function agentConfig(dir: AgentDir, size: number): string {
  // The dataplane as shipped: drift followed by kernel events, the sweep on its default schedule.
  const lines = [dir.header(), `dataplane: { driver: ${DRIVER} }`, 'farms:'];
  for (let f = 0; f * FARM_SIZE < size; f++) {
    lines.push(`  - name: f${f}`, `    vip: 127.200.${Math.floor(f / 250)}.${1 + (f % 250)}`, '    ports: [80]',
      `    check: { type: ${CHECK}${CHECK === 'tcp' ? '' : ', path: /'}, interval: 1s, timeout: 500ms }`, '    backends:');
    for (let i = f * FARM_SIZE; i < Math.min(size, (f + 1) * FARM_SIZE); i++) {
      lines.push(`      - { name: b${i}, ip: ${backendAddress(i)}, port: ${BACKEND_PORT} }`);
    }
  }
  return `${lines.join('\n')}\n`;
}

interface StatusJson { farms: { backends: { health: string; last_check: { ok: boolean } | null }[] }[] }

async function agentStatus(lab: Lab, dir: AgentDir): Promise<{ up: number; lastFailed: number }> {
  const r = await lab.exec(HOST, process.execPath, [agentctlBin, '--socket', dir.socket, 'status', '--json'], { timeoutMs: 20_000 });
  const status = JSON.parse(r.stdout) as StatusJson;
  const backends = status.farms.flatMap((f) => f.backends);
  return { up: backends.filter((b) => b.health === 'up').length, lastFailed: backends.filter((b) => b.last_check?.ok === false).length };
}

async function runAgent(lab: Lab, size: number, servers: readonly NsProcess[]): Promise<{ usage: Usage; serversCpuPct: number }> {
  const dir = agentDir('ha-agent-capacity-');
  let agent: NsProcess | undefined;
  try {
    dir.write(agentConfig(dir, size));
    agent = lab.spawn(HOST, process.execPath, [...AGENT_NODE_ARGS, haAgentBin, 'run', '--config', dir.configPath]);
    await agent.waitForLine('ha-agent running', 60_000);
    await waitFor(async () => (await agentStatus(lab, dir)).up === size || undefined,
      { timeoutMs: 60_000, intervalMs: 1000, what: `all ${size} backends up in the agent` });
    await sleep(WARMUP_S * 1000);
    const { usage, serversCpuPct } = await measure(lab, agent.pid!, servers);
    const after = await agentStatus(lab, dir);
    const downs = agent.lines.filter((l) => l.includes('"to":"down"')).length;
    return { usage: { ...usage, failures: downs + after.lastFailed + (size - after.up) }, serversCpuPct };
  } finally {
    await agent?.stop(5000);
    dir.remove();
  }
}

function haproxyConfig(dir: string, size: number): string {
  const lines = [
    'global', '  nbthread 1', '  maxconn 4096', `  stats socket ${join(dir, 'haproxy.sock')} mode 600 level admin`,
    'defaults', '  mode tcp', '  timeout connect 500ms', '  timeout check 500ms', '  timeout client 5s', '  timeout server 5s',
    'backend pool',
    ...(CHECK === 'tcp' ? [] : ['  option httpchk GET /']),
  ];
  const ssl = CHECK === 'https' ? ' check-ssl verify none' : '';
  for (let i = 0; i < size; i++) lines.push(`  server s${i} ${backendAddress(i)}:${BACKEND_PORT} check inter 1s${ssl}`);
  return `${lines.join('\n')}\n`;
}

/** `show stat` over the stats socket: servers UP, and failed checks summed. */
async function haproxyStats(socket: string): Promise<{ up: number; chkfail: number }> {
  const csv = await new Promise<string>((resolve, reject) => {
    const conn = net.connect(socket);
    let text = '';
    conn.setTimeout(10_000, () => conn.destroy(new Error('stats socket timed out')));
    conn.on('data', (d: Buffer) => { text += d.toString(); });
    conn.on('end', () => resolve(text));
    conn.on('error', reject);
    conn.write('show stat\n');
  });
  const [header, ...rows] = csv.trim().split('\n');
  const cols = (header ?? '').replace(/^# /, '').split(',');
  const at = (name: string) => cols.indexOf(name);
  const servers = rows.map((r) => r.split(',')).filter((r) => r[at('svname')] !== 'BACKEND' && r[at('svname')] !== 'FRONTEND');
  return {
    up: servers.filter((r) => r[at('status')] === 'UP').length,
    chkfail: servers.reduce((sum, r) => sum + Number(r[at('chkfail')] || 0), 0),
  };
}

async function runHaproxy(lab: Lab, size: number, servers: readonly NsProcess[]): Promise<{ usage: Usage; serversCpuPct: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-capacity-haproxy-'));
  let haproxy: NsProcess | undefined;
  try {
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(dir, size));
    await lab.exec(HOST, 'haproxy', ['-c', '-q', '-f', cfg]);
    haproxy = lab.spawn(HOST, 'haproxy', ['-db', '-f', cfg]);
    const socket = join(dir, 'haproxy.sock');
    await waitFor(() => existsSync(socket), { timeoutMs: 20_000, intervalMs: 100, what: 'the HAProxy stats socket' });
    // HAProxy spreads the first checks over one interval; rise applies only after a failure.
    await sleep(WARMUP_S * 1000 + 1000);
    const before = await haproxyStats(socket);
    const { usage, serversCpuPct } = await measure(lab, haproxy.pid!, servers);
    const after = await haproxyStats(socket);
    return { usage: { ...usage, failures: after.chkfail - before.chkfail + (size - after.up) }, serversCpuPct };
  } finally {
    await haproxy?.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The http/https backends: one HAProxy answering 200 on BACKEND_PORT of every local address (a
 * wildcard bind covers all of 127.0.0.0/8), so the servers cost the same for both probers.
 */
async function httpServers(lab: Lab): Promise<NsProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-capacity-servers-'));
  const ssl = CHECK === 'https' ? ` ssl crt ${join(dir, 'cert.pem')}` : '';
  if (CHECK === 'https') {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'crt.pem'), '-days', '2', '-subj', '/CN=backend'], { stdio: 'ignore' });
    writeFileSync(join(dir, 'cert.pem'), readFileSync(join(dir, 'crt.pem'), 'utf8') + readFileSync(join(dir, 'key.pem'), 'utf8'));
  }
  const cfg = join(dir, 'servers.cfg');
  writeFileSync(cfg, [
    'global', '  nbthread 1', '  maxconn 4096',
    'defaults', '  mode http', '  timeout client 5s', '  timeout connect 5s', '  timeout server 5s',
    'frontend backends', `  bind :${BACKEND_PORT}${ssl}`, '  http-request return status 200 content-type text/plain string "ok"', '',
  ].join('\n'));
  const server = lab.spawn(HOST, 'haproxy', ['-db', '-f', cfg]);
  await waitFor(async () => (await lab.exec(HOST, 'ss', ['-Hltn', `sport = :${BACKEND_PORT}`])).stdout.trim() !== '' || undefined,
    { timeoutMs: 20_000, intervalMs: 100, what: 'the HAProxy backends listening' });
  rmSync(dir, { recursive: true, force: true });
  return server;
}

interface SizeRun {
  agent: Usage;
  haproxy: Usage;
  servers_cpu_pct: { during_agent: number; during_haproxy: number };
  ratio_cpu: number;
}

async function runSize(size: number): Promise<SizeRun> {
  const lab = await createLab({ bridges: [], hosts: [{ name: HOST, links: [] }] });
  try {
    const servers: NsProcess[] = [];
    if (CHECK !== 'tcp') servers.push(await httpServers(lab));
    else for (let from = 0; from < size; from += PER_SERVER) {
      const count = String(Math.min(PER_SERVER, size - from));
      servers.push(SERVERS === 'defer'
        ? lab.spawn(HOST, 'python3', ['-c', DEFER_SERVER, String(from), count, String(BACKEND_PORT)])
        : lab.spawn(HOST, process.execPath, [serverBin, '--from', String(from), '--count', count]));
    }
    if (CHECK === 'tcp') for (const s of servers) await s.waitForLine('listening', 60_000);
    await installProbeCounter(lab);
    // The agent first, then HAProxy under the netfilter rules the agent left, so both probes take
    // the same kernel path.
    const agent = await runAgent(lab, size, servers);
    const haproxy = await runHaproxy(lab, size, servers);
    return {
      agent: agent.usage,
      haproxy: haproxy.usage,
      servers_cpu_pct: { during_agent: agent.serversCpuPct, during_haproxy: haproxy.serversCpuPct },
      ratio_cpu: round(agent.usage.cpu_pct / haproxy.usage.cpu_pct, 2),
    };
  } finally {
    await lab.destroy();
  }
}

/** The median of the repeats, each figure apart: one disturbed repeat moves no figure. */
function medianRun(list: readonly SizeRun[]): SizeRun {
  const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : round((sorted[mid - 1]! + sorted[mid]!) / 2, 2);
  };
  const usage = (pick: (run: SizeRun) => Usage): Usage => {
    const first = pick(list[0]!);
    const out = { ...first };
    for (const key of Object.keys(first) as (keyof Usage)[]) {
      if (key === 'load1') out.load1 = [median(list.map((r) => pick(r).load1[0])), median(list.map((r) => pick(r).load1[1]))];
      else out[key] = median(list.map((r) => pick(r)[key]));
    }
    return out;
  };
  return {
    agent: usage((r) => r.agent),
    haproxy: usage((r) => r.haproxy),
    servers_cpu_pct: {
      during_agent: median(list.map((r) => r.servers_cpu_pct.during_agent)),
      during_haproxy: median(list.map((r) => r.servers_cpu_pct.during_haproxy)),
    },
    ratio_cpu: median(list.map((r) => r.ratio_cpu)),
  };
}

async function main(): Promise<void> {
  if (!existsSync(serverBin)) throw new Error(`${serverBin} missing: build with npx tsc -p .`);
  const runs: Record<string, SizeRun[]> = {};
  for (let r = 0; r < REPEAT; r++) {
    for (const size of SIZES) {
      const run = await runSize(size);
      (runs[size] ??= []).push(run);
      process.stderr.write(`capacity ${size} run ${r + 1}/${REPEAT}: ${JSON.stringify(run)}\n`);
    }
  }
  const sizes: Record<string, SizeRun & { agent_cpu_ok: boolean; agent_rss_ok: boolean }> = {};
  for (const [size, list] of Object.entries(runs)) {
    const mid = medianRun(list);
    sizes[size] = { ...mid, agent_cpu_ok: mid.ratio_cpu <= 1.5, agent_rss_ok: Math.max(mid.agent.rss_mb_peak, mid.agent.rss_mb_hwm) <= 150 };
  }
  const result = {
    targets: 'agent CPU <= 1.5x HAProxy, RSS <= 150 MB (start-up high-water included)',
    setup: {
      window_s: WINDOW_S, warmup_s: WARMUP_S, repeat: REPEAT, check: `${CHECK}${CHECK === 'tcp' ? '' : ' GET /'} every 1s, timeout 500ms`,
      servers: CHECK !== 'tcp' ? `haproxy (nbthread 1) answering 200 on every address${CHECK === 'https' ? ', TLS with an EC P-256 certificate' : ''}`
        : SERVERS === 'defer' ? 'python3 listeners with TCP_DEFER_ACCEPT (no handshake completes)' : 'node: accept and close',
      agent: `ha-agent run, ${CHECK} checks in ${PROBE ?? (CHECK === 'tcp' ? tcpDirect.mode : httpConnectorMode(CHECK))} mode, ${DRIVER} driver, ${FARM_SIZE} backends per farm, drift by kernel events and the default sweep (every 5 min)${AGENT_NODE_ARGS.length > 0 ? `, node ${AGENT_NODE_ARGS.join(' ')}` : ''}`,
      haproxy: `${execFileSync('haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0]}, nbthread 1, one backend, check inter 1s${CHECK === 'tcp' ? '' : ', option httpchk GET /'}${CHECK === 'https' ? ', check-ssl verify none' : ''}`,
      note: 'cpu_pct: utime+stime over the window, % of one core; probes_per_s: SYNs sent to the backends (raw-table counter); failures: failed checks + backends not up; sizes: the median of the repeats, each figure apart (ratio_cpu: the median of the per-repeat ratios); all repeats in runs',
    },
    sizes,
    runs,
  };
  recordResult(RESULT_NAME, result);
  process.stdout.write(`${JSON.stringify({ targets: result.targets, sizes }, null, 2)}\n`);
}

await main();
