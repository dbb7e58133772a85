/**
 * A metrics bucket's LLM figures, per model (issue 15): what a sample of calls counts for each
 * model, how many models a stored bucket names and a range shows (`MAX_MODELS_STORED`,
 * `MAX_MODELS_SHOWN`, the rest summed under `OTHER_MODELS`), how an hour's sample is scaled up
 * to the hour's estimates (`withLlmEstimates`), how two buckets' models merge, and the error rates, latency percentiles and costs per hour an
 * operator reads off them (`deriveLlmRates`). The estimates are scaled up from each hour's own
 * sample when the hour is rolled up and then summed: one scale over a range would weigh a quiet
 * hour read whole like a busy hour sampled 240 of 40,000 attempts. Pure; the bucket these
 * figures belong to, and how it sums, is in `metrics.ts`.
 */
import { emptyHistogram, histogramPercentile, latencyBucket, mergeHistograms } from "./latency-histogram";
import type { MetricsFigures } from "./metrics";

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
 * LLM calls recorded on a sample of a bucket's attempts (`sampledMessages` of the bucket's
 * `messages.*` total; all of them in a quiet hour): the adapter reads a bounded number.
 */
export interface LlmFigures {
  sampledMessages: number;
  byModel: Record<string, ModelCalls>;
  /** The bucket's calls scaled up from its hour's own sample (`withLlmEstimates`), summed over hours. */
  estimatedCalls: number;
  /** The bucket's cost scaled up like `estimatedCalls`, summed over hours. */
  estimatedCostUsd: number;
}

/**
 * Models a stored hour or day names: the ones with the most calls; the rest are summed under
 * `OTHER_MODELS`, so a document stays small whatever models a configuration change or users' own
 * keys bring in. More than are shown (`MAX_MODELS_SHOWN`): a range sums its hours by name, so a
 * model shown for a range has all its calls in it unless some hour ran more than this many models
 * and folded it there.
 */
export const MAX_MODELS_STORED = 20;
/**
 * Models a range or one of its buckets shows by name (the range's top ones, the same in every
 * bucket: `foldModels`); the rest are shown as `OTHER_MODELS`.
 */
export const MAX_MODELS_SHOWN = 8;
/** The entry that sums the models beyond the bound (no OpenRouter model id has a space). */
export const OTHER_MODELS = "(other models)";

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
export function boundModels(byModel: Record<string, ModelCalls>, max: number): Record<string, ModelCalls> {
  const named = Object.entries(byModel).filter(([model]) => model !== OTHER_MODELS);
  if (named.length <= max) return byModel;
  const ranked = [...named].sort(byCallsDescending);
  return foldModels(byModel, new Set(ranked.slice(0, max).map(([model]) => model)));
}

/**
 * The models named in `keep` as they are, and every other one summed under `OTHER_MODELS` (with
 * any such entry already there): a bucket of a range folded to the range's named models, so the
 * bucket's "(other models)" holds every call the range's does.
 */
export function foldModels(
  byModel: Record<string, ModelCalls>,
  keep: ReadonlySet<string>,
): Record<string, ModelCalls> {
  const kept: Record<string, ModelCalls> = {};
  let other: ModelCalls | undefined;
  for (const [model, calls] of Object.entries(byModel)) {
    if (model !== OTHER_MODELS && keep.has(model)) kept[model] = calls;
    else other = other ? addModelCalls(other, calls) : calls;
  }
  return other ? { ...kept, [OTHER_MODELS]: other } : kept;
}

/** Figures whose models are bounded to `max` by name (`boundModels`): a stored day, a range shown. */
export function withBoundedModels(figures: MetricsFigures, max: number): MetricsFigures {
  return { ...figures, llm: { ...figures.llm, byModel: boundModels(figures.llm.byModel, max) } };
}

/** Figures whose models are folded to the names in `keep` (`foldModels`). */
export function withFoldedModels(figures: MetricsFigures, keep: ReadonlySet<string>): MetricsFigures {
  return { ...figures, llm: { ...figures.llm, byModel: foldModels(figures.llm.byModel, keep) } };
}

/**
 * `total` (a whole number) shared out in proportion to `weights` by largest remainder: whole
 * shares that add up to `total` exactly (all 0 when the weights are; plain proportional shares
 * for a total past exact whole numbers). Rounding each share on
 * its own would not: 5 over 1 : 1 : 1 rounds to 2 + 2 + 2.
 */
export function apportion(total: number, weights: readonly number[]): number[] {
  const weightSum = weights.reduce((sum, weight) => sum + weight, 0);
  if (!(total > 0) || !(weightSum > 0) || !Number.isFinite(weightSum)) return weights.map(() => 0);
  const exact = weights.map((weight) => (total * weight) / weightSum);
  // A total past exact whole numbers (a stored figure edited by hand): proportional shares.
  if (!Number.isSafeInteger(total)) return exact;
  const shares = exact.map((share) => Math.floor(share));
  // The largest remainders first, the earlier entry among equals; fewer than one per weight are left.
  const byRemainder = exact
    .map((share, index) => ({ remainder: share - Math.floor(share), index }))
    .sort((left, right) => right.remainder - left.remainder || left.index - right.index);
  const left = total - shares.reduce((sum, share) => sum + share, 0);
  for (const { index } of byRemainder.slice(0, Math.max(0, Math.min(left, byRemainder.length)))) {
    shares[index] = (shares[index] ?? 0) + 1;
  }
  return shares;
}

/** The per-model figures of a sample of calls, at most `MAX_MODELS_STORED` models by name. */
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
  return boundModels(byModel, MAX_MODELS_STORED);
}

/** Two buckets' LLM figures together, model by model (unbounded: `withBoundedModels` bounds them). */
export function mergeLlmFigures(left: LlmFigures, right: LlmFigures): LlmFigures {
  const byModel: Record<string, ModelCalls> = { ...left.byModel };
  for (const [model, calls] of Object.entries(right.byModel)) {
    const known = byModel[model];
    byModel[model] = known ? addModelCalls(known, calls) : calls;
  }
  return {
    sampledMessages: left.sampledMessages + right.sampledMessages,
    byModel,
    estimatedCalls: left.estimatedCalls + right.estimatedCalls,
    estimatedCostUsd: left.estimatedCostUsd + right.estimatedCostUsd,
  };
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
  const estimatedCalls = Math.round(sampled.calls * scale);
  // The hour's rounded estimate shared out, not each model's rounded apart: the stored models add
  // up to the stored hour, and so do the sums of any range of hours.
  const models = Object.entries(hour.llm.byModel);
  const shares = apportion(
    estimatedCalls,
    models.map(([, calls]) => calls.calls),
  );
  const byModel = Object.fromEntries(
    models.map(([model, calls], index) => [
      model,
      { ...calls, estimatedCalls: shares[index] ?? 0, estimatedCostUsd: calls.costUsd * scale },
    ]),
  );
  return {
    ...hour,
    llm: { ...hour.llm, byModel, estimatedCalls, estimatedCostUsd: sampled.costUsd * scale },
  };
}

/** What an operator reads off a bucket's LLM figures; null where there is nothing to divide. */
export interface LlmRates {
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
   * Per model, most calls first, at most `MAX_MODELS_SHOWN` by name and the rest as
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
}

function ratio(part: number, whole: number): number | null {
  return whole > 0 ? part / whole : null;
}

/**
 * The error rates, latency percentiles, estimates and costs an operator reads off a bucket's LLM
 * figures, in all and per model; `hours`, the hours rolled up in the bucket, gives the costs per hour.
 */
export function deriveLlmRates(llm: LlmFigures, { hours }: { hours?: number } = {}): LlmRates {
  const perHour = (cost: number) => (hours !== undefined && hours > 0 ? cost / hours : null);
  const models = Object.entries(boundModels(llm.byModel, MAX_MODELS_SHOWN)).sort((left, right) =>
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
    sampledCalls: all.calls,
    estimatedCalls: Math.round(llm.estimatedCalls),
    errorRate: ratio(all.errors, all.calls),
    latencyP50Ms: histogramPercentile(all.histogram, 0.5),
    latencyP95Ms: histogramPercentile(all.histogram, 0.95),
    estimatedCostUsd: llm.estimatedCostUsd,
    costPerHourUsd: perHour(llm.estimatedCostUsd),
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
  };
}
