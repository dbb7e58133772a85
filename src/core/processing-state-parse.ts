/**
 * Every field of the state has its entry in the schema (the usage and per-day delivery maps are
 * read from their top-level fields), so a field added to `ProcessingState` and not here fails to
 * compile instead of reading as absent.
 */
type ParsedKeys = keyof typeof storedStateSchema.shape;
type StoredKeys = Exclude<keyof ProcessingState, "uid" | "usage" | "deliveriesByDay">;
export const SCHEMA_COVERS_STATE: [Exclude<StoredKeys, ParsedKeys>, Exclude<ParsedKeys, StoredKeys>] extends [
  never,
  never,
]
  ? true
  : never = true;

/**
 * A stored processing state read back, whatever wrote it: fields checked against their documented
 * types with zod, then made whole by `normaliseProcessingState`. Pure.
 */
import { z } from "zod";
import { deliveryDayFieldsOf } from "./delivery-counts";
import {
  ACUTE_RISK_OUTCOMES,
  normaliseProcessingState,
  PROCESSING_PHASES,
  type ProcessingState,
  STORED_STATS_COUNTERS,
  USER_STATUSES,
} from "./processing-state";
import { usageFieldsOf } from "./run-usage";

/** A field of the documented type, or absent (then `normaliseProcessingState` gives its empty value). */
const optional = <Schema extends z.ZodType>(schema: Schema) => schema.optional().catch(undefined);
const instant = z.number().finite();
const storedEntries = <Entry extends z.ZodType>(entry: Entry) =>
  optional(
    z.array(z.unknown()).transform((entries) =>
      entries.flatMap((item) => {
        const parsed = entry.safeParse(item);
        return parsed.success ? [parsed.data] : [];
      }),
    ),
  );

const storedStateSchema = z.object({
  status: optional(z.enum(USER_STATUSES)),
  phase: optional(z.enum(PROCESSING_PHASES)),
  isProcessing: optional(z.boolean()),
  currentSlotId: optional(z.string().nullable()),
  lastRunPhases: storedEntries(z.enum(PROCESSING_PHASES)),
  consecutiveFailures: optional(z.number()),
  unfinishedRuns: optional(z.number()),
  suspendUntil: optional(instant.nullable()),
  suspendReason: optional(z.string().nullable()),
  stats: optional(
    z.object({
      messagesGenerated: optional(z.number()),
      messagesSent: optional(z.number()),
      gateSkipped: optional(z.number()),
      errors: optional(z.number()),
      duplicatesSkipped: optional(z.number()),
      emailsSent: optional(z.number()),
      pushesSent: optional(z.number()),
      lastProcessingAt: optional(instant.nullable()),
      lastSentAt: optional(instant.nullable()),
      lastEmailSentAt: optional(instant.nullable()),
      lastPushSentAt: optional(instant.nullable()),
    }),
  ),
  actionHistory: storedEntries(
    z.object({
      timestamp: instant,
      action: z.string(),
      details: z.string().nullable().catch(null),
      messageId: z.string().nullable().catch(null),
      success: z.boolean().catch(false),
      metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).catch({}),
    }),
  ),
  recentErrors: storedEntries(
    z.object({
      timestamp: instant,
      phase: z.enum(PROCESSING_PHASES).catch("error"),
      messageId: z.string().nullable().catch(null),
      errorMessage: z.string().catch(""),
      errorType: z.string().catch("unknown"),
    }),
  ),
  ownKeyStored: optional(z.boolean().nullable()),
  ownKeyChangedAt: optional(instant.nullable()),
  ownKeyFound: optional(z.boolean().nullable()),
  ownKeyCheckedAt: optional(instant.nullable()),
  // Passed on as stored: `normaliseProcessingState` keeps them only if they hold a summary.
  insights: optional(z.unknown()),
  legacyInsightsRead: optional(z.boolean()),
  lastFinishedRun: optional(z.string()),
  lastAcuteRiskAt: optional(instant),
  lastAcuteRiskSlotId: optional(z.string()),
  lastAcuteRiskOutcome: optional(z.enum(ACUTE_RISK_OUTCOMES)),
  createdAt: optional(instant),
  updatedAt: optional(instant),
});

/**
 * A stored processing state read back whatever was written (older versions, a hand, a partial
 * merge): a field of another type counts as absent, a log entry that is not one is left out, and
 * the rest is made whole by `normaliseProcessingState` (stored counters included).
 */
export function parseProcessingState(uid: string, stored: unknown): ProcessingState {
  if (typeof stored !== "object" || stored === null) return normaliseProcessingState(uid, undefined);
  const fields = storedStateSchema.parse(stored);
  const counters = Object.fromEntries(
    Object.values(STORED_STATS_COUNTERS).map((field) => [field, (stored as Record<string, unknown>)[field]]),
  );
  const known = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  const stats = fields.stats
    ? Object.fromEntries(Object.entries(fields.stats).filter(([, value]) => value !== undefined))
    : undefined;
  return normaliseProcessingState(uid, {
    ...counters,
    // The per-day delivery counters, as `normaliseProcessingState` finds them in a stored document.
    ...deliveryDayFieldsOf(stored as Record<string, unknown>),
    // The per-user LLM usage counters (top-level fields, incremented).
    ...usageFieldsOf(stored as Record<string, unknown>),
    ...known,
    ...(stats ? { stats } : {}),
  } as Partial<ProcessingState>);
}
