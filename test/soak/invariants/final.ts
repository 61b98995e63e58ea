// Invariant: once the schedule is over and the settle time has passed, every LB's rules are the
// same, they carry the health truth and the last accepted operator action of every backend (no
// action lost, even through Redis restarts and partitions), and each agent's status agrees with
// its own kernel. Expected shares: a backend that is up and enabled gets weight / total weight of
// such backends, within the run's share tolerance (bucket tables are only about proportional);
// any other gets none. Where the run records a digest of each LB's whole table, the LBs must hold
// the same one: equal shares alone do not mean every flow meets the same backend.

import { adminAt, farmOf, type Model } from './model.js';
import type { Violation } from './violation.js';

/** Shares are read back from statistic probabilities, which the kernel rounds. */
export const SHARE_TOLERANCE = 0.01;

/** How far a share may be from `want`: a backend that should get nothing is held to the tight bound whatever the run's tolerance. */
export function shareClose(share: number, want: number, tolerance: number): boolean {
  return Math.abs(share - want) <= (want === 0 ? SHARE_TOLERANCE : tolerance);
}

export function checkFinal(m: Model): Violation[] {
  const f = m.final;
  if (f === undefined) {
    return m.ended ? [{ invariant: 'final-missing', t: m.endT, detail: 'the history ends without a final record: the settled state was never compared' }] : [];
  }
  const out: Violation[] = [];
  const lastActivity = Math.max(0, ...m.faults.map((w) => w.end), ...m.ops.map((o) => o.t));
  if (f.t < lastActivity + m.bounds.settleMs) {
    out.push({ invariant: 'final-unsettled', t: f.t, detail: `final record at ${f.t} ms, less than the settle time (${m.bounds.settleMs} ms) after the last fault or action at ${lastActivity} ms` });
  }
  const close = (a: number, b: number): boolean => Math.abs(a - b) <= SHARE_TOLERANCE;
  const tolerance = m.run.shareTolerance ?? SHARE_TOLERANCE;

  for (const farm of m.run.farms) {
    const model = farmOf(m, farm.name)!;
    const truth = f.truth[farm.name] ?? {};
    const admin = new Map(farm.backends.map((b) => [b, adminAt(m, farm.name, b, f.t)]));
    const usable = farm.backends.filter((b) => truth[b] === true && admin.get(b) === 'enabled');
    const total = usable.reduce((s, b) => s + model.weight(b), 0);
    const expected = (b: string): number => (usable.includes(b) && total > 0 ? model.weight(b) / total : 0);

    for (const b of farm.backends) {
      if (truth[b] === undefined) out.push({ invariant: 'history', t: f.t, detail: `final record has no health truth for ${farm.name}/${b}` });
    }
    const first = f.nodes[0];
    for (const n of f.nodes) {
      const kernel = n.kernel[farm.name] ?? {};
      const status = n.status[farm.name] ?? {};
      if (first !== undefined && n !== first) {
        const base = first.kernel[farm.name] ?? {};
        const names = new Set([...Object.keys(base), ...Object.keys(kernel)]);
        const differ = [...names].filter((b) => !close(base[b] ?? 0, kernel[b] ?? 0));
        if (differ.length > 0) {
          out.push({ invariant: 'final-rules-differ', t: f.t, detail: `${farm.name}: ${n.node} and ${first.node} differ on ${differ.map((b) => `${b} (${kernel[b] ?? 0} vs ${base[b] ?? 0})`).join(', ')}` });
        } else if (first.digest?.[farm.name] !== n.digest?.[farm.name]) {
          out.push({ invariant: 'final-rules-differ', t: f.t, detail: `${farm.name}: ${n.node}'s table (digest ${n.digest?.[farm.name] ?? 'none'}) is not ${first.node}'s (${first.digest?.[farm.name] ?? 'none'}), with the same shares` });
        }
      }
      for (const b of Object.keys(kernel)) {
        if (!farm.backends.includes(b) && (kernel[b] ?? 0) > 0) out.push({ invariant: 'final-truth', t: f.t, detail: `${n.node} ${farm.name}: share ${kernel[b]} for ${b}, not a backend of the farm` });
      }
      for (const b of farm.backends) {
        const share = kernel[b] ?? 0;
        const want = expected(b);
        const a = admin.get(b)!;
        const st = status[b];
        if (!shareClose(share, want, tolerance)) {
          const lost = a !== 'enabled' && share > 0;
          out.push({
            invariant: lost ? 'final-admin-lost' : 'final-truth', t: f.t,
            detail: `${n.node} ${farm.name}/${b}: kernel share ${share}, expected ${want.toFixed(3)} (truth ${truth[b] === true ? 'up' : 'down'}, last accepted action: ${a})`,
          });
        }
        if (st === undefined) {
          out.push({ invariant: 'final-status-kernel', t: f.t, detail: `${n.node} ${farm.name}/${b}: not in agentctl status` });
          continue;
        }
        if (st.admin !== a) out.push({ invariant: 'final-admin-lost', t: f.t, detail: `${n.node} ${farm.name}/${b}: status says ${st.admin}, the last accepted action says ${a}` });
        if (truth[b] !== undefined && (st.state === 'up') !== truth[b]) out.push({ invariant: 'final-truth', t: f.t, detail: `${n.node} ${farm.name}/${b}: status says ${st.state}, the backend is ${truth[b] ? 'up' : 'down'}` });
        if ((st.state === 'up' && st.admin === 'enabled') !== share > 0) {
          out.push({ invariant: 'final-status-kernel', t: f.t, detail: `${n.node} ${farm.name}/${b}: status ${st.state}/${st.admin} but kernel share ${share}` });
        }
      }
    }
  }
  const missing = m.run.lbs.filter((lb) => !f.nodes.some((n) => n.node === lb));
  if (missing.length > 0) out.push({ invariant: 'final-missing', t: f.t, detail: `final record lacks ${missing.join(', ')}` });
  return out;
}
