/**
 * The operator's figures, rolled up per completed UTC hour and per UTC day (issue 15): what a
 * bucket counts, how two buckets merge, and the rates derived from them. Every figure but the
 * snapshot is a sum, so a day is the sum of its 24 hours and a range the sum of its buckets;
 * latencies too, as a fixed histogram. Pure; the adapter counts, this module decides. Its
 * siblings: the buckets themselves in `metrics-hours.ts`, the LLM figures per model with their
 * estimates and rates in `metrics-llm.ts`, the latency histogram in `latency-histogram.ts`, the
 * snapshot and the users read off it in `metrics-snapshot.ts`, engagement's recounts in
 * `engagement.ts`.
 */
import { deriveLlmRates, type LlmFigures, type LlmRates, mergeLlmFigures } from "./metrics-llm";

/**
 * One prompt variant's attempts in a bucket (core/prompt-experiments.ts): by status, and the scored
 * ones by effectivenessRating (`ratings[r - 1]` attempts rated r), for its gate pass rate and mean
 * rating with their intervals.
 */
export interface VariantFigures {
  sent: number;
  approved: number;
  rejected: number;
  failed: number;
  ratings: number[];
}

/** Everything counted for a bucket (an hour, a day, a range): sums only. */
export interface MetricsFigures {
  messages: {
    /** Attempts stored in the bucket (by `createdAt`), by status. */
    sent: number;
    approved: number;
    rejected: number;
    failed: number;
    /** Messages that went to the journal in the bucket (by `sentAt`). */
    delivered: number;
  };
  /** Slots completed in the bucket: users processed (a user has at most one slot an hour). */
  slotsCompleted: number;
  /** LLM calls on a sample of the bucket's attempts, per model (`metrics-llm.ts`). */
  llm: LlmFigures;
  scheduler: {
    runs: number;
    cronTicks: number;
    continuations: number;
    failedRuns: number;
    usersDue: number;
    dispatched: number;
    deferred: number;
    errors: number;
    /** Runs that ended with `hasMore`: due users left for a later run. */
    runsWithMore: number;
  };
  outbox: {
    processed: number;
    deadLettered: number;
    /** Event leases created: every handler attempt, first tries and retries. */
    claims: number;
  };
  /**
   * By prompt variant key (`experiment/variant`), while an experiment runs; absent on buckets
   * counted without one.
   */
  variants?: Record<string, VariantFigures>;
}

/** A bucket with nothing counted: the neutral element of `mergeFigures`. */
export function emptyFigures(): MetricsFigures {
  return {
    messages: { sent: 0, approved: 0, rejected: 0, failed: 0, delivered: 0 },
    slotsCompleted: 0,
    llm: { sampledMessages: 0, byModel: {}, estimatedCalls: 0, estimatedCostUsd: 0 },
    scheduler: {
      runs: 0,
      cronTicks: 0,
      continuations: 0,
      failedRuns: 0,
      usersDue: 0,
      dispatched: 0,
      deferred: 0,
      errors: 0,
      runsWithMore: 0,
    },
    outbox: { processed: 0, deadLettered: 0, claims: 0 },
  };
}

/** Field by field sum of two records of counts. */
export function sumRecord<Shape extends { [Key in keyof Shape]: number }>(left: Shape, right: Shape): Shape {
  const sum: Record<string, number> = { ...left };
  for (const [key, value] of Object.entries<number>(right)) sum[key] = (sum[key] ?? 0) + value;
  return sum as Shape;
}

/** Ratings histograms of any lengths added index by index. */
function addCounts(left: readonly number[], right: readonly number[]): number[] {
  return Array.from(
    { length: Math.max(left.length, right.length) },
    (_, index) => (left[index] ?? 0) + (right[index] ?? 0),
  );
}

function mergeVariants(
  left: Record<string, VariantFigures>,
  right: Record<string, VariantFigures>,
): Record<string, VariantFigures> {
  const merged: Record<string, VariantFigures> = { ...left };
  for (const [key, figures] of Object.entries(right)) {
    const known = merged[key];
    merged[key] = known
      ? {
          sent: known.sent + figures.sent,
          approved: known.approved + figures.approved,
          rejected: known.rejected + figures.rejected,
          failed: known.failed + figures.failed,
          ratings: addCounts(known.ratings, figures.ratings),
        }
      : figures;
  }
  return merged;
}

/** The figures of two buckets together (commutative, associative, `emptyFigures()` is neutral). */
export function mergeFigures(left: MetricsFigures, right: MetricsFigures): MetricsFigures {
  const variants =
    left.variants || right.variants
      ? { variants: mergeVariants(left.variants ?? {}, right.variants ?? {}) }
      : {};
  return {
    ...variants,
    messages: sumRecord(left.messages, right.messages),
    slotsCompleted: left.slotsCompleted + right.slotsCompleted,
    llm: mergeLlmFigures(left.llm, right.llm),
    scheduler: sumRecord(left.scheduler, right.scheduler),
    outbox: sumRecord(left.outbox, right.outbox),
  };
}

/** The figures of several buckets together (a day from its hours, a range from its buckets). */
export function sumFigures(figures: readonly MetricsFigures[]): MetricsFigures {
  return figures.reduce(mergeFigures, emptyFigures());
}

function ratio(part: number, whole: number): number | null {
  return whole > 0 ? part / whole : null;
}

/** What an operator reads off a bucket's figures; null where there is nothing to divide. */
export interface DerivedRates {
  /** Attempts that produced a message (sent, approved or rejected by the gate). */
  generated: number;
  gatedOut: number;
  /** Of the generated messages, the share the quality gate let through. */
  gatePassRate: number | null;
  /** Of all attempts, the share whose generation failed. */
  failureRate: number | null;
  /** The LLM figures' rates, in all and per model (`metrics-llm.ts`). */
  llm: LlmRates;
  /** Handler attempts that did not end the event (it was tried again later). */
  outboxRetries: number;
}

/**
 * The rates, percentiles and estimates an operator reads off a bucket's figures; `hours`, the
 * hours rolled up in the bucket, gives the costs per hour.
 */
export function deriveRates(figures: MetricsFigures, { hours }: { hours?: number } = {}): DerivedRates {
  const { sent, approved, rejected, failed } = figures.messages;
  const generated = sent + approved + rejected;
  const attempts = generated + failed;
  return {
    generated,
    gatedOut: rejected,
    gatePassRate: ratio(sent + approved, generated),
    failureRate: ratio(failed, attempts),
    llm: deriveLlmRates(figures.llm, { hours }),
    outboxRetries: Math.max(
      0,
      figures.outbox.claims - figures.outbox.processed - figures.outbox.deadLettered,
    ),
  };
}
