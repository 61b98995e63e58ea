// Benchmark: time to apply one backend change with 10, 100 and 1000 farms of 10 backends, through
// the engine (plan the farm, render, diff, one iptables-restore or nft transaction), beside the
// floor of a bare restore / `nft -f` of one farm's chain. Runs itself inside a fresh network
// namespace so the kernel's own ruleset is the only one touched.

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../config/load.js';
import { Engine } from '../agent/engine/engine.js';
import { ExecaRunner } from '../agent/apply/runner.js';
import { createNetfilter } from '../agent/daemon/netfilter.js';
import { FakeConnTracker } from '../agent/apply/conntrack.fake.js';
import { silentLogger } from '../agent/log.js';
import { recordResult, summarize } from './results.js';
import type { DesiredState } from '../agent/plan/plan.js';
import { NFT_NAMES, renderNftFarm } from '../agent/render/nftables.js';
import { TABLE_REF, ruleLines } from '../agent/render/nft-model.js';

const SIZES = [10, 100, 1000];
const CHANGES = Number(process.env.BENCH_CHANGES ?? 200);

function configFor(farms: number, driver: string): string {
  const lines = [`node: { id: bench }\ndataplane: { driver: ${driver} }\nfarms:`];
  for (let f = 0; f < farms; f++) {
    const vip = `10.${100 + Math.floor(f / 250)}.${f % 250}.1`;
    lines.push(`  - { name: farm${f}, vip: ${vip}, ports: [80, 443], check: { type: none }, backends: [`);
    for (let b = 0; b < 10; b++) lines.push(`      { name: b${b}, ip: 10.2.${f % 250}.${10 + b}, port: 8080, weight: ${1 + b} },`);
    lines.push('    ] }');
  }
  return `${lines.join('\n')}\n`;
}

async function measure(farms: number, driver: string): Promise<{ samples: number[]; floor: unknown }> {
  const parsed = parseConfigText(configFor(farms, driver));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues.slice(0, 3)));
  const engine = new Engine({
    netfilter: await createNetfilter(parsed.config, new ExecaRunner()),
    conntrack: new FakeConnTracker(),
    logger: silentLogger,
    now: Date.now,
    persist: async () => undefined,
    coalesceMs: 0,
  });
  await engine.start(parsed.config, new Map(), new Map());
  const samples: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const farm = `farm${(i * 7919) % farms}`;
    const backend = `b${i % 10}`;
    const rt = engine.runtime.get(`${farm}/${backend}`)!;
    const started = performance.now();
    engine.setHealth(farm, backend, rt.health === 'down' ? 'up' : 'down', 'bench');
    await engine.requestSync([]);
    samples.push(performance.now() - started);
  }
  const floor = driver === 'iptables'
    ? await bareFloor('iptables-restore', ['--noflush', '-w', '5'], BARE_RESTORE)
    : await bareFloor('nft', ['-f', '-'], bareNftText(engine.desired()));
  await (await createNetfilter(parsed.config, new ExecaRunner())).removeAll();
  return { samples, floor };
}

/** iptables floor: a bare iptables-restore --noflush rewriting one 10-rule chain. */
const BARE_RESTORE = `*mangle\n:HAM-farm0 - [0:0]\n${Array.from({ length: 10 }, (_, i) => `-A HAM-farm0 -d 10.100.0.1/32 -p tcp -m multiport --dports 80,443 -m statistic --mode random --probability 0.5 -j MARK --set-xmark 0x${(0x200 + i).toString(16)}/0x3fff`).join('\n')}\nCOMMIT\n`;

/** The floor: 50 runs of one bare transaction, nothing else. */
async function bareFloor(cmd: string, args: readonly string[], input: string): Promise<unknown> {
  const runner = new ExecaRunner();
  const samples: number[] = [];
  for (let i = 0; i < 50; i++) {
    const r = await runner.run(cmd, args, { input });
    if (r.exitCode !== 0) throw new Error(r.stderr);
    samples.push(r.durationMs);
  }
  return summarize(samples);
}

/** nft floor: a bare `nft -f` flushing and refilling farm0's chain with the whole table loaded. */
function bareNftText(desired: DesiredState): string {
  const chain = renderNftFarm(desired.farms[0]!, desired.markMask).chains.find((c) => c.name === NFT_NAMES.farm('farm0'))!;
  return [`flush chain ${TABLE_REF} ${chain.name}`, ...ruleLines(chain).map(({ line }) => `add rule ${TABLE_REF} ${chain.name} ${line}`), ''].join('\n');
}

async function inner(driver: string): Promise<void> {
  const out: Record<string, unknown> = {};
  for (const farms of SIZES) {
    const { samples, floor } = await measure(farms, driver);
    out[`${farms} farms`] = { change: summarize(samples), [driver === 'iptables' ? 'bare_restore_floor' : 'bare_nft_floor']: floor };
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

async function outer(): Promise<void> {
  const results: Record<string, unknown> = {};
  for (const driver of ['iptables', 'nftables']) {
    const ns = `habench${process.pid}`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      const text = execFileSync('ip', ['netns', 'exec', ns, process.execPath, fileURLToPath(import.meta.url), '--inner', driver], { encoding: 'utf8', maxBuffer: 1 << 24 });
      results[driver] = JSON.parse(text.trim().split('\n').at(-1)!);
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
  }
  recordResult('apply', { changes_per_size: CHANGES, unit: 'ms', results });
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

if (process.argv[2] === '--inner') await inner(process.argv[3] ?? 'iptables');
else await outer();
