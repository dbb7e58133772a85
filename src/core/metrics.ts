/**
 * The operator's figures, rolled up per completed UTC hour and per UTC day (issue 15): bucket
 * keys, which buckets a rollup run computes, how figures merge, and the rates and percentiles
 * derived from them. Pure: `now` is passed in; the adapter counts, this module decides.
 *
 * Every figure but the snapshot is a sum, so a day is the sum of its 24 hours and a range the
 * sum of its buckets. Latencies are kept as a fixed histogram (`LATENCY_BUCKET_BOUNDS_MS`) so
 * they merge exactly too; a percentile is read off the merged histogram (the upper bound of the
 * bucket it falls in), which a list of per-hour p95s could never give.
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/**
 * An hour is rolled up once it ended this long ago: a processor run stamps `createdAt`/`sentAt`
 * with the instant it started and runs for at most 300 s, so nothing lands in an hour later.
 */
export const HOUR_SETTLED_AFTER_MS = 10 * 60_000;

/** Upper bounds (ms) of the latency histogram's buckets; one more bucket holds anything slower. */
export const LATENCY_BUCKET_BOUNDS_MS = [
  250, 500, 750, 1_000, 1_500, 2_000, 3_000, 4_000, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 60_000,
  120_000,
] as const;

/** `2026-11-30T05`: the UTC hour that contains `at` (ids sort by time). */
export function hourKey(at: number): string {
  return new Date(hourStartOf(at)).toISOString().slice(0, 13);
}

/** `2026-11-30`: the UTC day that contains `at`. */
export function dayKey(at: number): string {
  return new Date(dayStartOf(at)).toISOString().slice(0, 10);
}

/** The start of the UTC hour that contains `at`. */
export function hourStartOf(at: number): number {
  return Math.floor(at / HOUR_MS) * HOUR_MS;
}

/** The start of the UTC day that contains `at`. */
export function dayStartOf(at: number): number {
  return Math.floor(at / DAY_MS) * DAY_MS;
}

/** The start of the hour a key names, or null for anything that is not one. */
export function parseHourKey(key: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}$/.test(key)) return null;
  const at = Date.parse(`${key}:00:00.000Z`);
  return Number.isFinite(at) && hourKey(at) === key ? at : null;
}

/** The start of the day a key names, or null for anything that is not one. */
export function parseDayKey(key: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(key)) return null;
  const at = Date.parse(`${key}T00:00:00.000Z`);
  return Number.isFinite(at) && dayKey(at) === key ? at : null;
}

/**
 * The settled hours of the last `lookbackHours` that have no rollup yet, newest first (the
 * latest figures are the ones an operator looks for), at most `maxHours`: a tick catches up a
 * few hours at a time, and an outage longer than the lookback leaves its hours out (the daily
 * document says which) rather than one tick doing days of work.
 */
export function hoursToRollUp({
  now,
  existing,
  lookbackHours,
  maxHours,
}: {
  now: number;
  existing: ReadonlySet<string>;
  lookbackHours: number;
  maxHours: number;
}): number[] {
  const lastSettled = hourStartOf(now - HOUR_SETTLED_AFTER_MS) - HOUR_MS;
  const hours: number[] = [];
  for (let index = 0; index < lookbackHours && hours.length < maxHours; index += 1) {
    const start = lastSettled - index * HOUR_MS;
    if (!existing.has(hourKey(start))) hours.push(start);
  }
  return hours;
}

/**
 * Days whose daily document can be written now: the day is over and either all its 24 hours are
 * rolled up, or the hours still missing have fallen out of the lookback (they never will be).
 */
export function dayIsComplete({
  dayStart,
  hoursPresent,
  now,
  lookbackHours,
}: {
  dayStart: number;
  hoursPresent: number;
  now: number;
  lookbackHours: number;
}): boolean {
  const dayEnd = dayStart + DAY_MS;
  if (dayEnd + HOUR_SETTLED_AFTER_MS > now) return false;
  if (hoursPresent >= 24) return true;
  return hourStartOf(now - HOUR_SETTLED_AFTER_MS) - lookbackHours * HOUR_MS >= dayEnd;
}

/** One model's LLM calls among the sampled messages. */
export interface ModelCalls {
  calls: number;
  errors: number;
  costUsd: number;
  /** Counts per `LATENCY_BUCKET_BOUNDS_MS` bucket, plus one for slower calls. */
  latencyHistogram: number[];
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
}

/** Not a sum: the state of things when the rollup ran (users, the outbox's queue). */
export interface MetricsSnapshot {
  at: number;
  usersTotal: number;
  usersByStatus: Record<string, number>;
  pendingEvents: number;
  deadLetters: number;
}

/** A bucket with nothing counted: the neutral element of `mergeFigures`. */
export function emptyFigures(): MetricsFigures {
  return {
    messages: { sent: 0, approved: 0, rejected: 0, failed: 0, delivered: 0 },
    slotsCompleted: 0,
    llm: { sampledMessages: 0, byModel: {} },
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

/** A call as the rollup sees it on a stored attempt's `llmCalls`. */
export interface SampledCall {
  model: string;
  ok: boolean;
  durationMs: number;
  cost: number | null;
}

/** The per-model figures of a sample of calls. */
export function callsByModel(calls: readonly SampledCall[]): Record<string, ModelCalls> {
  const byModel: Record<string, ModelCalls> = {};
  for (const call of calls) {
    const entry = byModel[call.model] ?? {
      calls: 0,
      errors: 0,
      costUsd: 0,
      latencyHistogram: emptyHistogram(),
    };
    entry.calls += 1;
    if (!call.ok) entry.errors += 1;
    entry.costUsd += call.cost ?? 0;
    const bucket = latencyBucket(call.durationMs);
    entry.latencyHistogram[bucket] = (entry.latencyHistogram[bucket] ?? 0) + 1;
    byModel[call.model] = entry;
  }
  return byModel;
}

/** Field by field sum of two records of counts. */
function sumRecord<Shape extends { [Key in keyof Shape]: number }>(left: Shape, right: Shape): Shape {
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
    merged[model] = known
      ? {
          calls: known.calls + calls.calls,
          errors: known.errors + calls.errors,
          costUsd: known.costUsd + calls.costUsd,
          latencyHistogram: mergeHistograms(known.latencyHistogram, calls.latencyHistogram),
        }
      : calls;
  }
  return merged;
}

/** The figures of two buckets together (commutative, associative, `emptyFigures()` is neutral). */
export function mergeFigures(left: MetricsFigures, right: MetricsFigures): MetricsFigures {
  return {
    messages: sumRecord(left.messages, right.messages),
    slotsCompleted: left.slotsCompleted + right.slotsCompleted,
    llm: {
      sampledMessages: left.llm.sampledMessages + right.llm.sampledMessages,
      byModel: mergeModels(left.llm.byModel, right.llm.byModel),
    },
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
  llm: {
    sampledCalls: number;
    /** Calls in the whole bucket, scaled up from the sample (equal to it when all were read). */
    estimatedCalls: number;
    errorRate: number | null;
    latencyP50Ms: number | null;
    latencyP95Ms: number | null;
    /** Cost of the whole bucket's calls, scaled up from the sample like `estimatedCalls`. */
    estimatedCostUsd: number;
    byModel: {
      model: string;
      calls: number;
      errorRate: number | null;
      latencyP50Ms: number | null;
      latencyP95Ms: number | null;
      costUsd: number;
    }[];
  };
  /** Handler attempts that did not end the event (it was tried again later). */
  outboxRetries: number;
}

/** The rates, percentiles and estimates an operator reads off a bucket's figures. */
export function deriveRates(figures: MetricsFigures): DerivedRates {
  const { sent, approved, rejected, failed } = figures.messages;
  const generated = sent + approved + rejected;
  const attempts = generated + failed;
  const models = Object.entries(figures.llm.byModel).sort(([left], [right]) => left.localeCompare(right));
  const all = models.reduce(
    (total, [, calls]) => ({
      calls: total.calls + calls.calls,
      errors: total.errors + calls.errors,
      costUsd: total.costUsd + calls.costUsd,
      histogram: mergeHistograms(total.histogram, calls.latencyHistogram),
    }),
    { calls: 0, errors: 0, costUsd: 0, histogram: emptyHistogram() },
  );
  const scale = figures.llm.sampledMessages > 0 ? attempts / figures.llm.sampledMessages : 0;
  return {
    generated,
    gatedOut: rejected,
    gatePassRate: ratio(sent + approved, generated),
    failureRate: ratio(failed, attempts),
    llm: {
      sampledCalls: all.calls,
      estimatedCalls: Math.round(all.calls * scale),
      errorRate: ratio(all.errors, all.calls),
      latencyP50Ms: histogramPercentile(all.histogram, 0.5),
      latencyP95Ms: histogramPercentile(all.histogram, 0.95),
      estimatedCostUsd: all.costUsd * scale,
      byModel: models.map(([model, calls]) => ({
        model,
        calls: calls.calls,
        errorRate: ratio(calls.errors, calls.calls),
        latencyP50Ms: histogramPercentile(calls.latencyHistogram, 0.5),
        latencyP95Ms: histogramPercentile(calls.latencyHistogram, 0.95),
        costUsd: calls.costUsd,
      })),
    },
    outboxRetries: Math.max(
      0,
      figures.outbox.claims - figures.outbox.processed - figures.outbox.deadLettered,
    ),
  };
}

/**
 * Engagement (opens, clicks, feedback) keeps arriving for days after a message is sent, so the
 * engagement of the messages sent on day D is counted again, as absolute counts (idempotent),
 * while it can still move: every hour on D and D+1, twice a day until D+7, and never after a
 * count taken 7 days after D ended (`final`).
 */
export const ENGAGEMENT_FINAL_AFTER_MS = 7 * DAY_MS;
/** How far back a run looks for engagement days never counted (the dashboard shows 14). */
export const ENGAGEMENT_BACKFILL_DAYS = 14;

/** How long a count of day `dayStart`'s engagement stands before it is counted again. */
export function engagementRefreshInterval({ dayStart, now }: { dayStart: number; now: number }): number {
  return now - dayStart < 2 * DAY_MS ? HOUR_MS - HOUR_SETTLED_AFTER_MS : 12 * HOUR_MS;
}

/** Whether a count taken at `computedAt` of day `dayStart`'s messages is the final one. */
export function engagementIsFinal({
  dayStart,
  computedAt,
}: {
  dayStart: number;
  computedAt: number;
}): boolean {
  return computedAt >= dayStart + DAY_MS + ENGAGEMENT_FINAL_AFTER_MS;
}

/**
 * The days (starts, newest first, at most `maxDays`) whose engagement a run counts now: never
 * counted (within the backfill window), or counted longer ago than their refresh interval and
 * not final.
 */
export function engagementDaysToCount({
  now,
  computedAt,
  maxDays,
}: {
  now: number;
  /** By day key: when the stored count was taken. */
  computedAt: ReadonlyMap<string, number>;
  maxDays: number;
}): number[] {
  const today = dayStartOf(now);
  const days: number[] = [];
  for (let index = 0; index <= ENGAGEMENT_BACKFILL_DAYS && days.length < maxDays; index += 1) {
    const dayStart = today - index * DAY_MS;
    const last = computedAt.get(dayKey(dayStart));
    const due =
      last === undefined ||
      (!engagementIsFinal({ dayStart, computedAt: last }) &&
        now - last >= engagementRefreshInterval({ dayStart, now }));
    if (due) days.push(dayStart);
  }
  return days;
}

/** The engagement counts of a group (a rating, a type) of sent messages. */
export interface EngagementTally {
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  helpful: number;
  rated: number;
  pushDelivered: number;
}

export interface EngagementRows {
  byRating: ({ rating: number } & EngagementTally)[];
  byType: ({ messageType: string } & EngagementTally)[];
}

function mergeRows<Row extends EngagementTally, Key extends keyof Row>(
  rows: readonly (readonly Row[])[],
  key: Key,
): Row[] {
  const byKey = new Map<Row[Key], Row>();
  for (const row of rows.flat()) {
    const known = byKey.get(row[key]);
    byKey.set(row[key], known ? { ...known, ...sumRecord(pickTally(known), pickTally(row)) } : { ...row });
  }
  return [...byKey.values()];
}

function pickTally(row: EngagementTally): EngagementTally {
  const { sent, delivered, opened, clicked, helpful, rated, pushDelivered } = row;
  return { sent, delivered, opened, clicked, helpful, rated, pushDelivered };
}

/** The engagement of several days' messages together (per rating and per type, summed). */
export function mergeEngagement(days: readonly EngagementRows[]): EngagementRows {
  return {
    byRating: mergeRows(
      days.map((day) => day.byRating),
      "rating",
    ).sort((left, right) => left.rating - right.rating),
    byType: mergeRows(
      days.map((day) => day.byType),
      "messageType",
    ),
  };
}
