// Which keepalived tracker notices a dead or hung agent, and how fast: track_file, track_script
// and vrrp_track_process, each alone, in a netns pair at advert_int 100 ms (no agent code: a
// stand-in "agent" keeps the heartbeat file and the track file fresh).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab, pairTopology, sleep, waitFor, LB1_FRONT_IP, LB2_FRONT_IP, VIP, type Lab, type NsProcess } from '../test/netns/topology.js';
import { aliveScript } from '../agent/vrrp/liveness.js';
import { summarize } from './results.js';

type Tracker = 'track_file' | 'track_script' | 'track_process' | 'parent_death_signal';
type Fault = 'SIGKILL' | 'SIGSTOP';

const NODES = { lb1: { priority: 150, src: LB1_FRONT_IP, peer: LB2_FRONT_IP }, lb2: { priority: 100, src: LB2_FRONT_IP, peer: LB1_FRONT_IP } } as const;
const WATCH_MS = 6000;

// The stand-in agent: pushes the heartbeat deadline 1 s ahead and rewrites the track file every 100 ms.
const AGENT = `const fs = require('node:fs'); const [dir, name] = process.argv.slice(1); process.title = 'hagent-' + name;
fs.writeFileSync(dir + '/hb', ''); const t = new Date(Date.now() + 1000); fs.utimesSync(dir + '/hb', t, t);
setInterval(() => { const t = new Date(Date.now() + 1000); fs.utimesSync(dir + '/hb', t, t); fs.writeFileSync(dir + '/track', '0\\n'); }, 100);
const helper = process.argv.slice(3); if (helper.length > 0) require('node:child_process').spawn(helper[0], helper.slice(1), { stdio: 'ignore' });`;

function trackerBlock(tracker: Tracker, dir: string, name: string): { define: string; use: string } {
  switch (tracker) {
    case 'track_file':
      return { define: `track_file agent {\n  file ${dir}/track\n  weight 0\n}`, use: 'track_file {\n    agent\n  }' };
    case 'track_script':
      return { define: `vrrp_script agent {\n  script "${aliveScript(`${dir}/hb`)}"\n  interval 1\n  fall 1\n  rise 1\n}`, use: 'track_script {\n    agent\n  }' };
    case 'track_process':
      return { define: `vrrp_track_process agent {\n  process hagent-${name}\n  quorum 1\n}`, use: 'track_process {\n    agent\n  }' };
    case 'parent_death_signal':
      return { define: '', use: '' };
    default: {
      const never: never = tracker;
      throw new Error(`unknown tracker ${String(never)}`);
    }
  }
}

function keepalivedConf(tracker: Tracker, dir: string, name: keyof typeof NODES): string {
  const n = NODES[name];
  const t = trackerBlock(tracker, dir, name);
  return `global_defs {\n  router_id ${name}\n  vrrp_version 3\n  script_user root\n  enable_script_security\n}\n${t.define}
vrrp_instance VI {\n  state BACKUP\n  interface front\n  virtual_router_id 51\n  priority ${n.priority}\n  advert_int 0.1
  unicast_src_ip ${n.src}\n  unicast_peer {\n    ${n.peer}\n  }\n  virtual_ipaddress {\n    ${VIP}/32 dev front\n  }\n  ${t.use}\n}\n`;
}

const holdsVip = async (lab: Lab, host: string) => (await lab.exec(host, 'ip', ['-o', '-4', 'addr', 'show', 'dev', 'front'])).stdout.includes(`${VIP}/`);

/** `probe`'s value, or null if it gives none within `timeoutMs`; a probe that throws still fails the trial. */
const within = <T>(probe: () => Promise<T | false>, timeoutMs: number, intervalMs: number): Promise<T | null> =>
  waitFor(probe, { timeoutMs, intervalMs }).catch((err: Error) => {
    if (err.cause !== undefined) throw err;
    return null;
  });

/** One trial: ms from the fault to lb1 dropping the VIP, or null if it kept it for WATCH_MS. */
async function trial(tracker: Tracker, fault: Fault): Promise<number | null | 'never-master'> {
  const lab = await createLab(pairTopology({ backends: 1 }));
  const dir = mkdtempSync(join(tmpdir(), 'ha-liveness-'));
  const agents: NsProcess[] = [];
  try {
    for (const name of ['lb1', 'lb2'] as const) {
      const d = join(dir, name);
      mkdirSync(d);
      writeFileSync(join(dir, `${name}.conf`), keepalivedConf(tracker, d, name));
      const keepalived = ['keepalived', '-n', '-l', '-f', join(dir, `${name}.conf`), '-p', join(d, 'k.pid'), '-r', join(d, 'v.pid'), '-c', join(d, 'c.pid')];
      // parent_death_signal: the stand-in agent runs keepalived as the agent does in spawn mode.
      const own = tracker === 'parent_death_signal' ? ['setpriv', '--pdeathsig', 'TERM', '--', ...keepalived] : [];
      agents.push(lab.spawn(name, process.execPath, ['-e', AGENT, d, name, ...own]));
      await sleep(300);
      if (own.length === 0) lab.spawn(name, keepalived[0]!, keepalived.slice(1));
    }
    if (await within(() => holdsVip(lab, 'lb1'), 5000, 50) === null) return 'never-master';
    const at = Date.now();
    agents[0]!.kill(fault);
    // Polled every 20 ms: the resolution of the figure.
    return await within(async () => !(await holdsVip(lab, 'lb1')) && Date.now() - at, WATCH_MS, 20);
  } finally {
    agents[0]?.kill('SIGCONT');
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface LivenessRow {
  readonly tracker: Tracker;
  readonly fault: Fault;
  readonly detected: number;
  readonly trials: number;
  readonly note?: string;
  readonly leave_master_ms?: ReturnType<typeof summarize>;
}

export async function liveness(trials: number): Promise<LivenessRow[]> {
  const rows: LivenessRow[] = [];
  for (const tracker of ['track_file', 'track_script', 'track_process', 'parent_death_signal'] as const) {
    for (const fault of ['SIGKILL', 'SIGSTOP'] as const) {
      const results = [];
      for (let i = 0; i < trials; i++) results.push(await trial(tracker, fault));
      const times = results.filter((r): r is number => typeof r === 'number');
      const neverMaster = results.filter((r) => r === 'never-master').length;
      rows.push({
        tracker, fault, trials, detected: times.length,
        ...(times.length > 0 ? { leave_master_ms: summarize(times) } : {}),
        ...(neverMaster > 0 ? { note: `lb1 never became MASTER in ${neverMaster} trials: FAULT from the start${tracker === 'track_process'
          ? ' (in a network namespace keepalived cannot listen to the proc connector: "Failed to set/clear process event listen - errno 111")' : ''}` }
          : times.length < trials ? { note: `lb1 kept the VIP for ${WATCH_MS} ms after the fault in ${trials - times.length} trials` } : {}),
      });
    }
  }
  return rows;
}
