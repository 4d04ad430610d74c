/**
 * A seeded generator (mulberry32), so that a population is the same on every run with the same
 * seed and the fixed and adaptive runs face exactly the same players.
 */
export type Random = () => number;

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Exponential with the given mean. */
export function exponential(random: Random, mean: number): number {
  return -mean * Math.log(1 - random());
}

/** Log-normal with the given median and shape (sigma of the underlying normal), by Box-Muller. */
export function logNormal(random: Random, median: number, sigma: number): number {
  const u = 1 - random();
  const v = random();
  const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return median * Math.exp(sigma * normal);
}

/** Picks a key of `weights` with probability proportional to its weight. */
export function pickWeighted<K extends string | number>(
  random: Random,
  weights: ReadonlyArray<readonly [K, number]>,
): K {
  const total = weights.reduce((sum, [, weight]) => sum + weight, 0);
  let point = random() * total;
  for (const [key, weight] of weights) {
    point -= weight;
    if (point < 0) return key;
  }
  return weights[weights.length - 1]![0];
}
