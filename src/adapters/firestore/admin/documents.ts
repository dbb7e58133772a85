import "server-only";
import { z } from "zod";
import { RISK_LEVELS } from "@/core/risk";
import { isInstant } from "@/core/user";
import type { SchedulerResults } from "@/pipeline/scheduler-run-record";

/**
 * The admin pages' view of documents they read but do not own the shape of at read time: run
 * summaries and coaching messages written by this and older versions of the engine, and by
 * hand. Each field is kept when it has its documented type and replaced by a neutral default
 * when not, so one odd document shows as "—" instead of taking a page down (as for the app's
 * documents: test/routes/admin-robustness.test.ts).
 */

const instant = z.number().refine(isInstant).catch(0);
const optionalInstant = z.number().refine(isInstant).nullable().catch(null);
const optionalText = z.string().nullable().catch(null);
const count = z.number().finite().catch(0);
const flag = z.boolean().catch(false);

const schedulerResultsFields = z.object({
  usersDue: count,
  usersBootstrapped: count,
  jobsCreated: count,
  dispatchesUnconfirmed: count,
  errors: count,
  rescheduledOutsideWindow: count,
  skippedDisabled: count,
  skippedSuspended: count,
  deferredByBreaker: count,
  breakerOpen: flag,
  breakerProbeDue: flag,
  deferred: count,
  hasMore: flag,
  usersSwept: count,
  sweepWrapped: flag,
  aggregationReads: count,
  documentsRead: count,
  documentsWritten: count,
  usersRanked: count,
});
const schedulerResultsSchema = schedulerResultsFields.catch(() =>
  schedulerResultsFields.parse({}),
) satisfies z.ZodType<SchedulerResults>;

const runSummarySchema = z.object({
  runId: z.string().catch(""),
  trigger: z.string().catch("unknown"),
  status: z.string().catch("unknown"),
  startedAt: instant,
  finishedAt: optionalInstant,
  durationMs: z.number().finite().nullable().catch(null),
  results: schedulerResultsSchema,
  userResults: z
    .record(
      z.string(),
      z.object({ result: z.string(), detail: z.string().optional() }).catch({ result: "unknown" }),
    )
    .catch({}),
  userResultsTruncated: flag,
  failureReason: optionalText,
  chain: z.record(z.string(), z.unknown()).nullable().catch(null),
  /** The run's OpenTelemetry trace; null when tracing was off or the summary predates it. */
  traceId: optionalText,
});

/** A scheduler run summary as the admin pages show it. */
export type RunSummary = z.infer<typeof runSummarySchema>;

/** A `schedulerRuns` document read for display; the id stands in for a missing `runId`. */
export function parseRunSummary(id: string, stored: unknown): RunSummary {
  const run = runSummarySchema.parse(stored ?? {});
  return { ...run, runId: run.runId || id };
}

const messageViewSchema = z.object({
  createdAt: instant,
  status: z.string().catch("unknown"),
  wasSent: flag,
  messageType: optionalText,
  messageContent: z.string().catch(""),
  effectivenessRating: z.number().finite().nullable().catch(null),
  recommendedAction: optionalText,
  failureReason: optionalText,
  journalEntryId: optionalText,
  contextUsed: z.record(z.string(), z.unknown()).nullable().catch(null),
  tokenUsage: z
    .object({
      inputTokens: count,
      outputTokens: count,
      totalTokens: count,
      cost: z.number().finite().nullable().catch(null),
    })
    .nullable()
    .catch(null),
  delivery: z.record(z.string(), z.unknown()).nullable().catch(null),
  /** The OpenTelemetry trace of the run that stored the attempt; null when tracing was off. */
  traceId: optionalText,
  /** The generation call's risk reading, for operators only (docs/generation.md "Safety"). */
  riskLevel: z.enum(RISK_LEVELS).nullable().catch(null),
  riskReason: optionalText,
});

/** A coaching message as the user page shows it: the fields it reads, never the prompt's inputs. */
export type MessageView = z.infer<typeof messageViewSchema> & { id: string };

/** A `coachingMessages` document read for display. */
export function parseMessageView(id: string, stored: unknown): MessageView {
  return { id, ...messageViewSchema.parse(stored ?? {}) };
}

/** The last message's figures the users table shows. */
export function parseLastMessage(stored: unknown): { messageType: string | null; rating: number | null } {
  const { messageType, effectivenessRating } = messageViewSchema
    .pick({ messageType: true, effectivenessRating: true })
    .parse(stored ?? {});
  return { messageType, rating: effectivenessRating };
}
