/**
 * The operator's figures, rolled up per completed UTC hour and per UTC day (issue 15): what a
 * bucket counts, how figures merge, and the rates and percentiles derived from them. Pure; the
 * adapter counts, this module decides. The buckets themselves are in `metrics-hours.ts`, the
 * latency histogram in `latency-histogram.ts`, engagement's recounts in `engagement.ts`.
 *
 * Every figure but the snapshot is a sum, so a day is the sum of its 24 hours and a range the
 * sum of its buckets; latencies too, as a fixed histogram. The LLM call and cost estimates are
 * scaled up from each hour's own sample when the hour is rolled up (`withLlmEstimates`) and then
 * summed: one scale over a range would weigh a quiet hour read whole like a busy hour sampled
 * 240 of 40,000 attempts.
 */
import { emptyHistogram, histogramPercentile, latencyBucket, mergeHistograms } from "./latency-histogram";

/** One model's LLM calls among the sampled messages. */
export interface ModelCalls {
  calls: number;
  errors: number;
  costUsd: number;
  /** Counts per `LATENCY_BUCKET_BOUNDS_MS` bucket, plus one for slower calls. */
  latencyHistogram: number[];
  /** The model's calls in the whole hour, scaled from its hour's sample (`withLlmEstimates`), summed over hours. */
  estimatedCalls: number;
  /** The model's cost in the whole hour, scaled like `estimatedCalls`. */
  estimatedCostUsd: number;
}

/**
 * Models listed by name in one bucket: the ones with the most calls; the rest are summed under
 * `OTHER_MODELS`, so a stored hour or day stays small whatever models a configuration change or
 * users' own keys bring in.
 */
export const MAX_MODELS_PER_BUCKET = 8;
/** The entry that sums the models beyond `MAX_MODELS_PER_BUCKET` (no OpenRouter model id has a space). */
export const OTHER_MODELS = "(other models)";

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
  /**
   * LLM calls recorded on a sample of the bucket's attempts (`sampledMessages` of
   * `messages.*`'s total; all of them in a quiet hour): the adapter reads a bounded number.
   */
  llm: {
    sampledMessages: number;
    byModel: Record<string, ModelCalls>;
    /** The bucket's calls scaled up from its hour's own sample (`withLlmEstimates`), summed over hours. */
    estimatedCalls: number;
    /** The bucket's cost scaled up like `estimatedCalls`, summed over hours. */
    estimatedCostUsd: number;
  };
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

/** Not a sum: the state of things when the rollup ran (users, the outbox's queue). */
export interface MetricsSnapshot {
  at: number;
  usersTotal: number;
  usersByStatus: Record<string, number>;
  pendingEvents: number;
  deadLetters: number;
  /**
   * Users whose engine-owned mirror `coachingEnabled` (core/user.ts) is true: coaching on as the
   * engine last read it. Absent on snapshots from before the mirror was counted.
   */
  usersEnabled?: number;
  /** Of `usersEnabled`, those suspended at `at` (`suspendUntil` after it). */
  usersEnabledSuspended?: number;
  /** Users whose mirror is false: coaching off as the engine last read it. */
  usersDisabled?: number;
}

/** The users an operator reads off a snapshot; null where the snapshot predates the mirror. */
export interface UserFigures {
  total: number;
  /** Coaching on, as of the engine's last look at each user. */
  enabled: number | null;
  /** Enabled and not suspended: the users the engine is coaching. */
  active: number | null;
  /** Enabled but suspended. */
  suspended: number | null;
  /** Coaching off, as of the engine's last look. */
  disabled: number | null;
  /** Users the engine has not looked at since the mirror exists (neither enabled nor disabled yet). */
  notLookedAt: number | null;
}

/** Enabled, active (enabled minus suspended) and not-yet-seen users of a snapshot. */
export function userFigures(snapshot: MetricsSnapshot): UserFigures {
  const { usersTotal, usersEnabled, usersEnabledSuspended, usersDisabled } = snapshot;
  if (usersEnabled === undefined || usersEnabledSuspended === undefined || usersDisabled === undefined) {
    return {
      total: usersTotal,
      enabled: null,
      active: null,
      suspended: null,
      disabled: null,
      notLookedAt: null,
    };
  }
  return {
    total: usersTotal,
    enabled: usersEnabled,
    active: Math.max(0, usersEnabled - usersEnabledSuspended),
    suspended: usersEnabledSuspended,
    disabled: usersDisabled,
    // The three counts are separate aggregations: a write between them must not make this negative.
    notLookedAt: Math.max(0, usersTotal - usersEnabled - usersDisabled),
  };
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

/** A call as the rollup sees it on a stored attempt's `llmCalls`. */
export interface SampledCall {
  model: string;
  ok: boolean;
  durationMs: number;
  cost: number | null;
}

function noCalls(): ModelCalls {
  return {
    calls: 0,
    errors: 0,
    costUsd: 0,
    latencyHistogram: emptyHistogram(),
    estimatedCalls: 0,
    estimatedCostUsd: 0,
  };
}

function addModelCalls(left: ModelCalls, right: ModelCalls): ModelCalls {
  return {
    calls: left.calls + right.calls,
    errors: left.errors + right.errors,
    costUsd: left.costUsd + right.costUsd,
    latencyHistogram: mergeHistograms(left.latencyHistogram, right.latencyHistogram),
    estimatedCalls: left.estimatedCalls + right.estimatedCalls,
    estimatedCostUsd: left.estimatedCostUsd + right.estimatedCostUsd,
  };
}

/** Models by their calls (estimated, then sampled), most first, by name among equals. */
function byCallsDescending(
  [leftModel, left]: [string, ModelCalls],
  [rightModel, right]: [string, ModelCalls],
) {
  return (
    right.estimatedCalls - left.estimatedCalls ||
    right.calls - left.calls ||
    leftModel.localeCompare(rightModel)
  );
}

/**
 * At most `max` models by name, those with the most calls, and the rest summed under
 * `OTHER_MODELS` (with any such entry already there): the figures of every call are kept, only
 * the names of the smaller models are not.
 */
export function boundModels(
  byModel: Record<string, ModelCalls>,
  max: number = MAX_MODELS_PER_BUCKET,
): Record<string, ModelCalls> {
  const named = Object.entries(byModel).filter(([model]) => model !== OTHER_MODELS);
  const other = byModel[OTHER_MODELS];
  if (named.length <= max) return byModel;
  const ranked = [...named].sort(byCallsDescending);
  const rest = ranked.slice(max).reduce((sum, [, calls]) => addModelCalls(sum, calls), other ?? noCalls());
  return { ...Object.fromEntries(ranked.slice(0, max)), [OTHER_MODELS]: rest };
}

/** Figures whose models are bounded (`boundModels`): for a stored day, or a range shown. */
export function withBoundedModels(figures: MetricsFigures): MetricsFigures {
  return { ...figures, llm: { ...figures.llm, byModel: boundModels(figures.llm.byModel) } };
}

/** The per-model figures of a sample of calls, at most `MAX_MODELS_PER_BUCKET` models by name. */
export function callsByModel(calls: readonly SampledCall[]): Record<string, ModelCalls> {
  const byModel: Record<string, ModelCalls> = {};
  for (const call of calls) {
    const entry = byModel[call.model] ?? noCalls();
    entry.calls += 1;
    if (!call.ok) entry.errors += 1;
    entry.costUsd += call.cost ?? 0;
    const bucket = latencyBucket(call.durationMs);
    entry.latencyHistogram[bucket] = (entry.latencyHistogram[bucket] ?? 0) + 1;
    byModel[call.model] = entry;
  }
  return boundModels(byModel);
}

/** Field by field sum of two records of counts. */
export function sumRecord<Shape extends { [Key in keyof Shape]: number }>(left: Shape, right: Shape): Shape {
  const sum: Record<string, number> = { ...left };
  for (const [key, value] of Object.entries<number>(right)) sum[key] = (sum[key] ?? 0) + value;
  return sum as Shape;
}

function mergeModels(
  left: Record<string, ModelCalls>,
  right: Record<string, ModelCalls>,
): Record<string, ModelCalls> {
  const merged: Record<string, ModelCalls> = { ...left };
  for (const [model, calls] of Object.entries(right)) {
    const known = merged[model];
    merged[model] = known ? addModelCalls(known, calls) : calls;
  }
  return merged;
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
    llm: {
      sampledMessages: left.llm.sampledMessages + right.llm.sampledMessages,
      byModel: mergeModels(left.llm.byModel, right.llm.byModel),
      estimatedCalls: left.llm.estimatedCalls + right.llm.estimatedCalls,
      estimatedCostUsd: left.llm.estimatedCostUsd + right.llm.estimatedCostUsd,
    },
    scheduler: sumRecord(left.scheduler, right.scheduler),
    outbox: sumRecord(left.outbox, right.outbox),
  };
}

/** The figures of several buckets together (a day from its hours, a range from its buckets). */
export function sumFigures(figures: readonly MetricsFigures[]): MetricsFigures {
  return figures.reduce(mergeFigures, emptyFigures());
}

/**
 * An hour's figures with its LLM estimates, in all and per model: the sampled calls and cost
 * scaled by the hour's attempts over its sampled ones (1 when the hour was read whole). Applied
 * once, to one hour's count; a day or a range sums the hours' estimates instead of rescaling
 * their summed samples.
 */
export function withLlmEstimates(hour: MetricsFigures): MetricsFigures {
  const { sent, approved, rejected, failed } = hour.messages;
  const attempts = sent + approved + rejected + failed;
  const scale = hour.llm.sampledMessages > 0 ? attempts / hour.llm.sampledMessages : 0;
  const sampled = Object.values(hour.llm.byModel).reduce(
    (total, calls) => ({ calls: total.calls + calls.calls, costUsd: total.costUsd + calls.costUsd }),
    { calls: 0, costUsd: 0 },
  );
  const byModel = Object.fromEntries(
    Object.entries(hour.llm.byModel).map(([model, calls]) => [
      model,
      { ...calls, estimatedCalls: Math.round(calls.calls * scale), estimatedCostUsd: calls.costUsd * scale },
    ]),
  );
  return {
    ...hour,
    llm: {
      ...hour.llm,
      byModel,
      estimatedCalls: Math.round(sampled.calls * scale),
      estimatedCostUsd: sampled.costUsd * scale,
    },
  };
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
  llm: {
    sampledCalls: number;
    /** Calls in the whole bucket: the sum of its hours' estimates, each scaled from its own sample. */
    estimatedCalls: number;
    /** Over the sampled calls: a bucket of several hours weighs each hour by its sample, not its traffic. */
    errorRate: number | null;
    /** Percentiles of the sampled calls' latencies, unweighted across the bucket's hours (see `errorRate`). */
    latencyP50Ms: number | null;
    latencyP95Ms: number | null;
    /** Cost of the whole bucket's calls, summed over its hours like `estimatedCalls`. */
    estimatedCostUsd: number;
    /** `estimatedCostUsd` over the hours rolled up in the bucket; null when not told them. */
    costPerHourUsd: number | null;
    /**
     * Per model, most calls first, at most `MAX_MODELS_PER_BUCKET` by name and the rest as
     * `OTHER_MODELS` (last). `calls`, `errors` and `costUsd` are the sample's; the estimates and
     * the cost per hour scale each hour's sample like the bucket's own.
     */
    byModel: {
      model: string;
      calls: number;
      estimatedCalls: number;
      errors: number;
      errorRate: number | null;
      latencyP50Ms: number | null;
      latencyP95Ms: number | null;
      costUsd: number;
      estimatedCostUsd: number;
      costPerHourUsd: number | null;
    }[];
  };
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
  const perHour = (cost: number) => (hours !== undefined && hours > 0 ? cost / hours : null);
  const models = Object.entries(boundModels(figures.llm.byModel)).sort((left, right) =>
    left[0] === OTHER_MODELS ? 1 : right[0] === OTHER_MODELS ? -1 : byCallsDescending(left, right),
  );
  const all = models.reduce(
    (total, [, calls]) => ({
      calls: total.calls + calls.calls,
      errors: total.errors + calls.errors,
      costUsd: total.costUsd + calls.costUsd,
      histogram: mergeHistograms(total.histogram, calls.latencyHistogram),
    }),
    { calls: 0, errors: 0, costUsd: 0, histogram: emptyHistogram() },
  );
  return {
    generated,
    gatedOut: rejected,
    gatePassRate: ratio(sent + approved, generated),
    failureRate: ratio(failed, attempts),
    llm: {
      sampledCalls: all.calls,
      estimatedCalls: Math.round(figures.llm.estimatedCalls),
      errorRate: ratio(all.errors, all.calls),
      latencyP50Ms: histogramPercentile(all.histogram, 0.5),
      latencyP95Ms: histogramPercentile(all.histogram, 0.95),
      estimatedCostUsd: figures.llm.estimatedCostUsd,
      costPerHourUsd: perHour(figures.llm.estimatedCostUsd),
      byModel: models.map(([model, calls]) => ({
        model,
        calls: calls.calls,
        estimatedCalls: calls.estimatedCalls,
        errors: calls.errors,
        errorRate: ratio(calls.errors, calls.calls),
        latencyP50Ms: histogramPercentile(calls.latencyHistogram, 0.5),
        latencyP95Ms: histogramPercentile(calls.latencyHistogram, 0.95),
        costUsd: calls.costUsd,
        estimatedCostUsd: calls.estimatedCostUsd,
        costPerHourUsd: perHour(calls.estimatedCostUsd),
      })),
    },
    outboxRetries: Math.max(
      0,
      figures.outbox.claims - figures.outbox.processed - figures.outbox.deadLettered,
    ),
  };
}
