// `npm run lab -- --active-active`: the active-active design on a self-contained lab. A router
// (BIRD 2, ECMP, BFD 100 ms x 3) in front of three LBs, each an ha-agent announcing a dsr VIP
// with its own BIRD, and four backends holding the VIP on lo. Drives long-lived streams and new
// connections, silences one LB and kills it (no clean stop), shows the streams carrying on,
// brings it back, prints a short report and tears everything down.

import { ActiveActive, LBS, LB_ADDR, BFD_INTERVAL_MS, BFD_MULTIPLIER } from './topology.js';
import { FARMS } from './config.js';
import { burst, fate, openStreams, percentages } from './traffic.js';
import { lbReturn, lbSilent } from './silent.js';

const STREAMS = 60;
const say = (text = '') => process.stdout.write(`${text}\n`);

export async function activeActiveLab(): Promise<void> {
  const farm = FARMS.dsr;
  say(`ha-agent active-active lab: client -- router (BIRD, ECMP, BFD ${BFD_INTERVAL_MS} ms x ${BFD_MULTIPLIER}) -- lb1, lb2, lb3 (ha-agent + BIRD) -- b1..b3 (dsr)`);
  const aa = await ActiveActive.create({ driver: 'nftables', farms: [farm] });
  try {
    const route = (await aa.lab.exec('router', 'ip', ['route', 'show', `${farm.vip}/32`])).stdout.trim();
    say(`\nThe router's route to the VIP, learned from the three LBs over BGP:\n  ${route.split('\n').join('\n  ')}`);
    const before = await aa.synCounts(farm.name);
    const report = await burst(aa, farm.vip, 900);
    const spread = percentages(before, await aa.synCounts(farm.name));
    say(`\n900 new connections to ${farm.vip}:80: ${report.failures} failed`);
    say(`  per LB (SYNs seen): ${LBS.map((lb) => `${lb} ${spread[lb]} %`).join(', ')}`);
    say(`  per backend: ${Object.entries(report.counts).sort().map(([b, n]) => `${b} ${n}`).join(', ')}`);

    say(`\nOpening ${STREAMS} long-lived TCP streams (an echo every 100 ms each)...`);
    const stream = await openStreams(aa, farm.vip, STREAMS);
    const dead = (await aa.nexthops(farm.vip)).at(-1)!;
    say(`Silencing ${dead} (${LB_ADDR[dead]}): every frame to and from it dropped, then its agent and BIRD killed with SIGKILL...`);
    const r = await lbSilent(aa, farm.vip, stream, { dead });
    say(`  the router removed ${dead} from the ECMP route ${Math.round(r.detectMs)} ms after it went silent`);
    say(`  streams: ${r.streams.alive.length} of ${r.streams.total} still echoing${r.streams.broken.length ? ` (broken: ${JSON.stringify(r.streams.errors)})` : ''}`);
    say(`  new connections during the event: ${r.paced?.failures ?? 0} of ${r.paced?.records.length ?? 0} failed, all within ${r.gapMs} ms of each other`);

    say(`\nBringing ${dead} back (agent restarted; it adopts its rules and starts BIRD)...`);
    const backMs = await lbReturn(aa, dead);
    const after = await fate(stream, Date.now(), 2000);
    say(`  announced again after ${Math.round(backMs)} ms; streams: ${after.alive.length} of ${after.total} still echoing`);
    await stream.stop(2000);

    say('\nReport');
    say(`  router detection of a silent LB: ${Math.round(r.detectMs)} ms (BFD ${BFD_INTERVAL_MS} ms x ${BFD_MULTIPLIER} = ${BFD_INTERVAL_MS * BFD_MULTIPLIER} ms)`);
    say(`  streams surviving the LB's death: ${r.streams.alive.length}/${r.streams.total}; its return: ${after.alive.length}/${after.total}`);
    say(`  new connections lost: ${r.paced?.failures ?? 0} (client-visible gap ${r.gapMs} ms)`);
  } finally {
    await aa.destroy();
    say('\nlab torn down.');
  }
}
