/** Latency samples in ms, kept whole (autocannon's own histogram rounds to whole ms, too coarse for a 1-3 ms floor). */
export class Samples {
  private values = new Float64Array(1 << 16);
  private size = 0;
  private sortedCache: Float64Array | undefined;

  add(ms: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.size++] = ms;
    this.sortedCache = undefined;
  }

  get count(): number {
    return this.size;
  }

  sorted(): Float64Array {
    this.sortedCache ??= this.values.slice(0, this.size).sort();
    return this.sortedCache;
  }
}

export interface LatencySummary {
  readonly samples: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

const ms = (value: number) => Math.round(value * 1000) / 1000;

export function summarize(samples: Samples): LatencySummary {
  const sorted = samples.sorted();
  let total = 0;
  for (const value of sorted) total += value;
  return {
    samples: sorted.length,
    mean: ms(total / sorted.length),
    p50: ms(percentile(sorted, 0.5)),
    p90: ms(percentile(sorted, 0.9)),
    p99: ms(percentile(sorted, 0.99)),
    p999: ms(percentile(sorted, 0.999)),
    max: ms(sorted[sorted.length - 1] ?? NaN),
  };
}

/** The latency distribution as (percentile, ms) points for the chart, denser in the tail. */
export function distribution(samples: Samples, points = 120): Array<[number, number]> {
  const sorted = samples.sorted();
  if (sorted.length === 0) return [];
  const out: Array<[number, number]> = [];
  // x = log10(1 / (1 - p)): 0 at p0, 1 at p90, 2 at p99, 3 at p99.9.
  const maxX = Math.min(4, Math.log10(sorted.length));
  for (let i = 0; i <= points; i++) {
    const x = (maxX * i) / points;
    const q = 1 - 10 ** -x;
    out.push([Math.round(q * 1e6) / 1e6, ms(percentile(sorted, Math.max(q, 1 / sorted.length)))]);
  }
  return out;
}
