/**
 * The metrics documents (`metricsHourly`, `metricsDaily`, `metricsEngagement`) read back: anything
 * missing or malformed reads as 0 (or empty), so a dashboard page never fails on one document.
 */
import { z } from "zod";
import { emptyFigures, type MetricsFigures, withLlmEstimates } from "@/core/metrics";

/** A stored count: a non-negative number, else 0. */
export const count = z.number().nonnegative().catch(0);
const modelCallsSchema = z.object({
  calls: count,
  errors: count,
  costUsd: count,
  latencyHistogram: z.array(count).catch([]),
});
/** A stored estimate; absent on documents written before hours carried their own. */
const estimate = z.number().nonnegative().optional().catch(undefined);
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
    return estimatedCalls === undefined || estimatedCostUsd === undefined
      ? withLlmEstimates({ ...figures, llm: { ...figures.llm, estimatedCalls: 0, estimatedCostUsd: 0 } })
      : { ...figures, llm: { ...figures.llm, estimatedCalls, estimatedCostUsd } };
  })
  .catch(emptyFigures());
const snapshotSchema = z
  .object({
    at: z.number(),
    usersTotal: count,
    usersByStatus: z.record(z.string(), count).catch({}),
    pendingEvents: count,
    deadLetters: count,
  })
  .nullable()
  .catch(null);
export const hourlySchema = z.object({
  hourStart: z.number(),
  computedAt: z.number().catch(0),
  figures: figuresSchema,
  snapshot: snapshotSchema,
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
