// Benchmark: VIP failover between two real agents (advert_int 1 s and 100 ms), established-
// connection survival with conntrackd, and the liveness trackers compared. Prints the JSON and
// updates its sections in bench/results/failover.json (`node dist/bench/failover.js [SECTION...]`).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordResult, resultsDir } from './results.js';
import { vipFailover } from './failover-vip.js';
import { conntrackSurvival } from './failover-conntrack.js';
import { liveness } from './failover-liveness.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 10);

const SECTIONS: Record<string, () => Promise<unknown>> = {
  vip_advert_1s: () => vipFailover(1000, 'node-down', TRIALS),
  vip_advert_100ms: () => vipFailover(100, 'node-down', TRIALS),
  vip_advert_100ms_agent_kill: async () => ({
    ...(await vipFailover(100, 'agent-kill', TRIALS)),
    caveat: "lb1's kernel keeps forwarding for clients whose ARP entry still points at it (hot standby), so this is the client-visible service gap",
  }),
  conntrackd: () => conntrackSurvival(true, Math.max(3, Math.floor(TRIALS / 2))),
  conntrackd_external_cache: () => conntrackSurvival(true, Math.max(3, Math.floor(TRIALS / 2)), true),
  no_conntrackd: () => conntrackSurvival(false, Math.max(3, Math.floor(TRIALS / 2))),
  liveness: async () => ({ rows: await liveness(Math.max(3, Math.floor(TRIALS / 2))) }),
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !(w in SECTIONS));
  if (unknown.length > 0) throw new Error(`unknown sections ${unknown.join(', ')}; known: ${Object.keys(SECTIONS).join(', ')}`);
  const file = join(resultsDir, 'failover.json');
  // Sections not run now keep their last figures.
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { sections?: Record<string, unknown> }).sections ?? {} : {};
  const sections: Record<string, unknown> = { ...previous };
  for (const name of wanted.length > 0 ? wanted : Object.keys(SECTIONS)) {
    process.stderr.write(`failover: ${name}\n`);
    sections[name] = { ...(await SECTIONS[name]!() as object), at: new Date().toISOString() };
    recordResult('failover', { sections });
  }
  process.stdout.write(`${JSON.stringify({ benchmark: 'failover', sections }, null, 2)}\n`);
}

main().then(() => process.exit(0), (err: Error) => {
  process.stderr.write(`failover benchmark failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
