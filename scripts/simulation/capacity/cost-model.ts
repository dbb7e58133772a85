/**
 * What things cost in virtual time and money in the capacity simulation, with where each figure
 * comes from. Measured figures are from `npm run bench` on this machine (docs/benchmarks.md);
 * the others are stated assumptions, each overridable by a flag.
 */

/**
 * Dispatch throughput at the bench's concurrency: 1,000 processor calls over HTTP to a local
 * processor stand-in in 0.391 s at DISPATCH_CONCURRENCY 20 (docs/benchmarks.md: fan-out, 2,555 calls/s).
 * Each dispatch is taken to hold a slot for 20 / 2,555 s, so the tick's dispatch rate scales with
 * the configured concurrency.
 */
export const BENCH_DISPATCHES_PER_SECOND = 2_555;
export const BENCH_DISPATCH_CONCURRENCY = 20;

/**
 * One Firestore round trip (a query, a batch, a get) from the scheduler: the bench's 1,000-user
 * tick on the emulator took 44.2 ms over about 8 round trips (run summary twice, breaker, unscheduled
 * query, due pages, count aggregations).
 */
export const BENCH_FIRESTORE_ROUND_TRIP_MS = 5.5;
/** Per document returned or written: not separable in the bench (assumption: ~20,000 docs/s per stream). */
export const FIRESTORE_PER_DOCUMENT_MS = 0.05;
/** Writes per batched commit, Firestore's limit. */
export const FIRESTORE_BATCH_LIMIT = 500;

/**
 * The processor's own work around the two LLM calls (claim, context reads, storage, journal entry,
 * reschedule): the bench's p50 per user with state, breaker and quotas, 45.41 ms (45 here, whole milliseconds); half is put
 * before the first call and half after the second.
 */
export const BENCH_PROCESSOR_OVERHEAD_MS = 45;

/** LLM latency per call (assumption, from the issue): lognormal with p50 3 s and p95 10 s. */
export const DEFAULT_LLM_LATENCY = { p50Ms: 3_000, p95Ms: 10_000 } as const;

/**
 * Price per call at Claude Sonnet list prices ($3 per million input tokens, $15 per million
 * output), with assumed sizes: generation ~2,500 tokens in (journal context) and ~350 out,
 * outcome scoring ~1,200 in and ~250 out.
 */
export const LLM_COST_USD = {
  generation: (2_500 * 3 + 350 * 15) / 1_000_000,
  scoring: (1_200 * 3 + 250 * 15) / 1_000_000,
} as const;

const Z_95 = 1.6448536269514722;

/** A lognormal sampler with the given median and 95th percentile (Box–Muller on `random`). */
export function lognormalSampler({ p50Ms, p95Ms }: { p50Ms: number; p95Ms: number }, random: () => number) {
  const mu = Math.log(p50Ms);
  const sigma = Math.log(p95Ms / p50Ms) / Z_95;
  return (): number => {
    const u1 = 1 - random();
    const u2 = random();
    const normal = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    return Math.round(Math.exp(mu + sigma * normal));
  };
}
