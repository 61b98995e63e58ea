// Weights -> the numbers the kernel needs: statistic probabilities (last match wins),
// round-robin slot sequences, and hash bucket owners. Pure.

/**
 * Probabilities for rules emitted from the last backend down to the first, where the last
 * matching MARK rule wins: P_i = w_i / (w_i + ... + w_(n-1)), so backend i is chosen with
 * probability w_i / sum(w). The first rule emitted (i = n-1) always has P = 1.
 */
export function lastMatchProbabilities(weights: readonly number[]): number[] {
  const probabilities = new Array<number>(weights.length);
  let suffix = 0;
  for (let i = weights.length - 1; i >= 0; i--) {
    suffix += weights[i]!;
    probabilities[i] = i === weights.length - 1 ? 1 : weights[i]! / suffix;
  }
  return probabilities;
}

/** What last-match-wins evaluation of rules emitted n-1..0 with these probabilities yields. */
export function simulateLastMatch(probabilities: readonly number[]): number[] {
  // Rules are evaluated n-1 first and 0 last; backend i wins when its rule matches and no rule
  // evaluated after it (0..i-1) matches.
  const shares = new Array<number>(probabilities.length);
  let noneLater = 1;
  for (let i = 0; i < probabilities.length; i++) {
    shares[i] = probabilities[i]! * noneLater;
    noneLater *= 1 - probabilities[i]!;
  }
  return shares;
}

export const MAX_SLOTS = 1024;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Integer slot counts proportional to the weights, reduced by their gcd and capped at
 * MAX_SLOTS (largest-remainder apportionment, at least one slot each).
 */
export function slotCounts(weights: readonly number[]): number[] {
  const ints = weights.map((w) => Math.max(1, Math.round(w)));
  const divisor = ints.reduce(gcd, 0) || 1;
  let counts = ints.map((w) => w / divisor);
  const total = counts.reduce((a, b) => a + b, 0);
  if (total > MAX_SLOTS) {
    const exact = counts.map((c) => (c * MAX_SLOTS) / total);
    counts = exact.map((x) => Math.max(1, Math.floor(x)));
    let left = MAX_SLOTS - counts.reduce((a, b) => a + b, 0);
    const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
    for (let k = 0; left > 0 && k < order.length; k++, left--) counts[order[k]![1]]! += 1;
  }
  return counts;
}

/**
 * Smooth weighted round robin (as nginx does it): the order in which slots go to backends,
 * interleaved so a heavy backend does not get its whole share in one burst.
 */
export function smoothSequence(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const current = counts.map(() => 0);
  const sequence: number[] = [];
  for (let step = 0; step < total; step++) {
    let best = 0;
    for (let i = 0; i < counts.length; i++) {
      current[i]! += counts[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    sequence.push(best);
  }
  return sequence;
}

/**
 * Hash buckets: every configured backend owns buckets in proportion to its weight; buckets of
 * backends that are out of the chain go to the active ones, so a failure only moves the
 * clients of the failed backend (the rest keep their backend). Returns the owner (index into
 * `active`) of each bucket, or an empty list when nothing is active.
 */
export function bucketOwners(allWeights: readonly number[], active: readonly number[], activeWeights: readonly number[]): number[] {
  if (active.length === 0) return [];
  const homes = smoothSequence(slotCounts(allWeights));
  const position = new Map(active.map((configIndex, i) => [configIndex, i]));
  const fallback = smoothSequence(slotCounts(activeWeights));
  let next = 0;
  return homes.map((home) => position.get(home) ?? fallback[next++ % fallback.length]!);
}
