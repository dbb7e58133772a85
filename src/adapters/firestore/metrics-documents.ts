/**
 * The metrics documents (`metricsHourly`, `metricsDaily`, `metricsEngagement`) read back: anything
 * missing or malformed reads as 0 (or empty), so a dashboard page never fails on one document.
 */
import { z } from "zod";
import { emptyFigures, type MetricsFigures } from "@/core/metrics";
import { apportion, type ModelCalls, withLlmEstimates } from "@/core/metrics-llm";
import { ROLLUP_COUNTS, type RollupCount } from "@/core/metrics-snapshot";

/** A stored count: a non-negative number, else 0. */
export const count = z.number().nonnegative().catch(0);
/** A stored estimate; absent on documents written before hours carried their own. */
const estimate = z.number().nonnegative().optional().catch(undefined);
const modelCallsSchema = z.object({
  calls: count,
  errors: count,
  costUsd: count,
  latencyHistogram: z.array(count).catch([]),
  estimatedCalls: estimate,
  estimatedCostUsd: estimate,
});

/**
 * Per-model estimates for a document stored before models carried their own: the bucket's
 * estimates shared in proportion to each model's sampled calls and cost (exact for an hour,
 * whose models all scale by the hour's one factor), the calls in whole shares that add up to the
 * bucket's.
 */
function modelsWithEstimates(
  byModel: Record<string, z.infer<typeof modelCallsSchema>>,
  bucket: { estimatedCalls: number; estimatedCostUsd: number },
): Record<string, ModelCalls> {
  const models = Object.values(byModel);
  const sampledCost = models.reduce((total, model) => total + model.costUsd, 0);
  // Whole calls shared by largest remainder, so that the models add up to the bucket.
  const callShares = apportion(
    Math.round(bucket.estimatedCalls),
    models.map((model) => model.calls),
  );
  return Object.fromEntries(
    Object.entries(byModel).map(([model, { estimatedCalls, estimatedCostUsd, ...calls }], index) => [
      model,
      {
        ...calls,
        estimatedCalls: estimatedCalls ?? callShares[index] ?? 0,
        estimatedCostUsd:
          estimatedCostUsd ?? (sampledCost > 0 ? (bucket.estimatedCostUsd * calls.costUsd) / sampledCost : 0),
      },
    ]),
  );
}
/**
 * A stored document's figures; anything missing or malformed reads as 0, so a page never fails
 * on one. A document from before the LLM estimates were stored gets them from its own sample.
 */
const figuresSchema = z
  .object({
    messages: z
      .object({ sent: count, approved: count, rejected: count, failed: count, delivered: count })
      .catch(emptyFigures().messages),
    slotsCompleted: count,
    llm: z
      .object({
        sampledMessages: count,
        byModel: z.record(z.string(), modelCallsSchema).catch({}),
        estimatedCalls: estimate,
        estimatedCostUsd: estimate,
      })
      .catch(emptyFigures().llm),
    scheduler: z
      .object({
        runs: count,
        cronTicks: count,
        continuations: count,
        failedRuns: count,
        usersDue: count,
        dispatched: count,
        deferred: count,
        errors: count,
        runsWithMore: count,
      })
      .catch(emptyFigures().scheduler),
    outbox: z.object({ processed: count, deadLettered: count, claims: count }).catch(emptyFigures().outbox),
    variants: z
      .record(
        z.string(),
        z.object({
          sent: count,
          approved: count,
          rejected: count,
          failed: count,
          ratings: z.array(count).catch([]),
        }),
      )
      .optional()
      .catch(undefined),
  })
  .transform((figures): MetricsFigures => {
    const { estimatedCalls, estimatedCostUsd } = figures.llm;
    if (estimatedCalls === undefined || estimatedCostUsd === undefined) {
      const byModel = modelsWithEstimates(figures.llm.byModel, { estimatedCalls: 0, estimatedCostUsd: 0 });
      return withLlmEstimates({
        ...figures,
        llm: { ...figures.llm, byModel, estimatedCalls: 0, estimatedCostUsd: 0 },
      });
    }
    const byModel = modelsWithEstimates(figures.llm.byModel, { estimatedCalls, estimatedCostUsd });
    return { ...figures, llm: { ...figures.llm, byModel, estimatedCalls, estimatedCostUsd } };
  })
  .catch(emptyFigures());
const snapshotSchema = z
  .object({
    at: z.number(),
    usersTotal: count,
    usersByStatus: z.record(z.string(), count).catch({}),
    pendingEvents: count,
    deadLetters: count,
    // Absent on snapshots from before the `coachingEnabled` mirror was counted.
    usersEnabled: count.optional(),
    usersEnabledSuspended: count.optional(),
    usersDisabled: count.optional(),
  })
  .nullable()
  .catch(null);
/**
 * An hour's marker of the counts that failed: absent (an hour written before the marker, or one
 * that counted everything) or malformed reads as none failed; a name this version does not know
 * is left out.
 */
export const countsFailedSchema = z
  .array(z.unknown())
  .catch([])
  .transform((names) =>
    names.filter((name): name is RollupCount => (ROLLUP_COUNTS as readonly unknown[]).includes(name)),
  );
/** An hourly document's snapshot alone, for readers that need nothing else (the status route). */
export const hourlySnapshotSchema = z.object({ snapshot: snapshotSchema });
export const hourlySchema = z.object({
  hourStart: z.number(),
  computedAt: z.number().catch(0),
  figures: figuresSchema,
  snapshot: snapshotSchema,
  countsFailed: countsFailedSchema,
});
export const dailySchema = z.object({
  dayStart: z.number(),
  computedAt: z.number().catch(0),
  hours: count,
  missingHours: z.array(z.string()).catch([]),
  figures: figuresSchema,
  snapshot: snapshotSchema,
});
const tally = {
  sent: count,
  delivered: count,
  opened: count,
  clicked: count,
  helpful: count,
  rated: count,
  pushDelivered: count,
};
export const engagementSchema = z.object({
  dayStart: z.number(),
  computedAt: z.number().catch(0),
  final: z.boolean().catch(false),
  byRating: z.array(z.object({ rating: z.number(), ...tally })).catch([]),
  byType: z.array(z.object({ messageType: z.string(), ...tally })).catch([]),
  byVariant: z
    .array(z.object({ variant: z.string(), ...tally }))
    .optional()
    .catch(undefined),
});
