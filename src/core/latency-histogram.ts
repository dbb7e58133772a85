/**
 * LLM call latencies as a fixed histogram, so that buckets merge exactly; a percentile is read off
 * the merged histogram (the upper bound of the bucket it falls in), which a list of per-hour p95s
 * could never give. Pure.
 */

/** Upper bounds (ms) of the latency histogram's buckets; one more bucket holds anything slower. */
export const LATENCY_BUCKET_BOUNDS_MS = [
  250, 500, 750, 1_000, 1_500, 2_000, 3_000, 4_000, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 60_000,
  120_000,
] as const;

/** A latency histogram with no calls: one count per bound, and one for slower calls. */
export function emptyHistogram(): number[] {
  return Array.from({ length: LATENCY_BUCKET_BOUNDS_MS.length + 1 }, () => 0);
}

/** The bucket a latency falls in. */
export function latencyBucket(durationMs: number): number {
  const index = LATENCY_BUCKET_BOUNDS_MS.findIndex((bound) => durationMs <= bound);
  return index === -1 ? LATENCY_BUCKET_BOUNDS_MS.length : index;
}

/** Two histograms' calls together, bucket by bucket. */
export function mergeHistograms(left: readonly number[], right: readonly number[]): number[] {
  return emptyHistogram().map((_, index) => (left[index] ?? 0) + (right[index] ?? 0));
}

/**
 * The `quantile` (0–1) of a histogram: the upper bound of the bucket holding that rank, so the
 * true value is at most this and above the bucket's lower bound; null when empty, and the last
 * bound when the rank is among the calls slower than every bound.
 */
export function histogramPercentile(histogram: readonly number[], quantile: number): number | null {
  const total = histogram.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(quantile * total));
  let seen = 0;
  for (const [index, count] of histogram.entries()) {
    seen += count;
    if (seen >= rank) return LATENCY_BUCKET_BOUNDS_MS[index] ?? LATENCY_BUCKET_BOUNDS_MS.at(-1) ?? null;
  }
  return LATENCY_BUCKET_BOUNDS_MS.at(-1) ?? null;
}
