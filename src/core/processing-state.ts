// Over 300 lines: the state's one shape, its empty value and how a stored one is made whole, documented field by field.
/**
 * Each user's processing state, as the engine keeps it (one document per user): status and
 * phase, counters, and rolling logs of actions and errors, and a stored state made whole. Pure
 * helpers; the pipeline records, an adapter stores. Its siblings: `processing-state-change.ts`
 * (a change and how it applies), `processing-state-parse.ts` (reading a stored state),
 * `delivery-counts.ts` (the delivery counters), `suspension.ts` and `own-key-lookup.ts`
 * (decisions taken from it).
 */
import { deliveryDayFieldsOf } from "./delivery-counts";
import type { SlotOutcome } from "./due-slot";
import type { UserInsights } from "./insights";
import { usageFieldsOf } from "./run-usage";

export const USER_STATUSES = ["waiting", "running", "suspended", "error"] as const;
export type UserStatus = (typeof USER_STATUSES)[number];
export const PROCESSING_PHASES = [
  "idle",
  "building_context",
  "generating",
  "scoring",
  "storing",
  "delivering",
  "error",
] as const;
export type ProcessingPhase = (typeof PROCESSING_PHASES)[number];

export const MAX_ACTION_HISTORY = 20;
export const MAX_RECENT_ERRORS = 10;

export interface ActionEntry {
  timestamp: number;
  action: string;
  details: string | null;
  messageId: string | null;
  success: boolean;
  metadata: Record<string, string | number | boolean | null>;
}

export interface ErrorEntry {
  timestamp: number;
  phase: ProcessingPhase;
  messageId: string | null;
  errorMessage: string;
  errorType: string;
}

export interface ProcessingStats {
  messagesGenerated: number;
  messagesSent: number;
  gateSkipped: number;
  errors: number;
  duplicatesSkipped: number;
  /** Emails handed to Resend and pushes delivered, counted by the outbox's delivery handler. */
  emailsSent: number;
  pushesSent: number;
  lastProcessingAt: number | null;
  lastSentAt: number | null;
  lastEmailSentAt: number | null;
  lastPushSentAt: number | null;
}

export interface ProcessingState {
  uid: string;
  status: UserStatus;
  phase: ProcessingPhase;
  isProcessing: boolean;
  currentSlotId: string | null;
  /** Phases the last (or current) run went through, in order. */
  lastRunPhases: ProcessingPhase[];
  /**
   * Failed runs in a row. A run counts as failed when it is claimed (a run that is killed never
   * reports back); finishing undoes that for outcomes that are not the user's failure, and a sent
   * message resets it.
   */
  consecutiveFailures: number;
  /** Runs claimed since the last one that finished: more than 0 means runs were killed or timed out. */
  unfinishedRuns: number;
  suspendUntil: number | null;
  suspendReason: string | null;
  stats: ProcessingStats;
  actionHistory: ActionEntry[];
  recentErrors: ErrorEntry[];
  /**
   * Whether the user has a key of their own, as the key routes last wrote it (`ownKeyStored` at
   * `ownKeyChangedAt`) and as a run last found it (`ownKeyFound` at `ownKeyCheckedAt`), in fields
   * of their own so neither writer overwrites the other: a run of a user without a key then needs
   * no `userApiKeys` lookup (see `ownKeyLookupNeeded`). Null: not known (older states).
   */
  ownKeyStored: boolean | null;
  ownKeyChangedAt: number | null;
  ownKeyFound: boolean | null;
  ownKeyCheckedAt: number | null;
  /**
   * The user's LLM usage counters by pool and window (core/run-usage.ts), kept here so a run reads
   * them with the state and records them in the write that ends it.
   */
  usage: Record<string, number>;
  /**
   * Emails and pushes sent per UTC day (`emailsSent_d20261130`, `pushesSent_d20261130`; see
   * `deliveryDayField`): top-level fields in Firestore, incremented by the delivery handler
   * without a read, the way core/run-usage.ts names usage by window. Read with `deliveryCounts`.
   */
  deliveriesByDay: Record<string, number>;
  /**
   * The insights derived from the user's journal (core/insights.ts), kept here for the same
   * reason. Null: none yet. Absent: never stored here (a state from before insights moved here;
   * the insights store then reads the old `userInsights` document, once).
   */
  insights?: UserInsights | null;
  /**
   * A run read the old `userInsights` document and found none: the state says "no insights yet"
   * with this flag, never with `insights: null` (a map written later over a stored null is
   * dropped by the local emulator, so the two would disagree).
   */
  legacyInsightsRead?: boolean;
  /**
   * The claim token of the last run whose end was written (`finishRun`), so a run recovering from
   * an error after its end applied does not count itself twice. Null: none yet.
   */
  lastFinishedRun: string | null;
  /**
   * The operator's flag (docs/generation.md "Safety"): when the last run whose generation assessed
   * the user's entries as `acute` ended, and its slot (its messages carry the assessment). Written
   * with the run's end, so flagging costs no write of its own. Absent: never flagged.
   */
  lastAcuteRiskAt?: number;
  lastAcuteRiskSlotId?: string;
  /** How that run ended (written with the flag): whether a supportive message was sent at all. */
  lastAcuteRiskOutcome?: AcuteRiskOutcome;
  createdAt: number;
  updatedAt: number;
}

export function emptyProcessingState(uid: string, now: number): ProcessingState {
  return {
    uid,
    status: "waiting",
    phase: "idle",
    isProcessing: false,
    currentSlotId: null,
    lastRunPhases: [],
    consecutiveFailures: 0,
    unfinishedRuns: 0,
    suspendUntil: null,
    suspendReason: null,
    stats: {
      messagesGenerated: 0,
      messagesSent: 0,
      gateSkipped: 0,
      errors: 0,
      duplicatesSkipped: 0,
      emailsSent: 0,
      pushesSent: 0,
      lastProcessingAt: null,
      lastSentAt: null,
      lastEmailSentAt: null,
      lastPushSentAt: null,
    },
    actionHistory: [],
    recentErrors: [],
    ownKeyStored: null,
    ownKeyChangedAt: null,
    ownKeyFound: null,
    ownKeyCheckedAt: null,
    lastFinishedRun: null,
    usage: {},
    deliveriesByDay: {},
    createdAt: now,
    updatedAt: now,
  };
}

/** How a run flagged `acute` ended (its slot's outcome, or `error`): the operator's page words the flag from it. */
export const ACUTE_RISK_OUTCOMES = [
  "sent",
  "gate_failed",
  "generation_failed",
  "breaker_open",
  "quota_exceeded",
  "ceiling_reached",
  "provider_unavailable",
  "error",
] as const satisfies readonly (SlotOutcome | "error")[];
export type AcuteRiskOutcome = (typeof ACUTE_RISK_OUTCOMES)[number];

/** The counters under `stats`. */
export type StatsCounter =
  | "messagesGenerated"
  | "messagesSent"
  | "gateSkipped"
  | "errors"
  | "duplicatesSkipped"
  | "emailsSent"
  | "pushesSent";

/**
 * Where the `stats` counters are stored: top-level fields, because they are incremented
 * (`FieldValue.increment`) and the Firestore emulator cannot increment a field inside a map. A
 * document written before keeps its old `stats.*` counts; a read adds the two up, and a whole
 * state written back (`set()` of a normalised state) folds them into `stats` again.
 */
export const STORED_STATS_COUNTERS: Readonly<Record<StatsCounter, string>> = {
  messagesGenerated: "totalMessagesGenerated",
  messagesSent: "totalMessagesSent",
  gateSkipped: "totalGateSkipped",
  errors: "totalErrors",
  duplicatesSkipped: "totalDuplicatesSkipped",
  emailsSent: "totalEmailsSent",
  pushesSent: "totalPushesSent",
};

/**
 * A stored state made whole: a run's writes are partial merges, and documents written by older
 * versions may lack fields; missing ones take their empty values, counters are added up from
 * where they are stored (see `STORED_STATS_COUNTERS`), and fields that are not part of the
 * state are dropped, so writing the result back whole cannot count anything twice.
 */
export function normaliseProcessingState(
  uid: string,
  stored: Partial<ProcessingState> | undefined,
): ProcessingState {
  const fields: Partial<ProcessingState> = stored ?? {};
  const storedCounters = (stored ?? {}) as Record<string, unknown>;
  const empty = emptyProcessingState(uid, fields.createdAt ?? fields.updatedAt ?? 0);
  const pick = <Key extends keyof ProcessingState>(key: Key): ProcessingState[Key] => {
    const value = fields[key];
    return value === undefined ? empty[key] : (value as ProcessingState[Key]);
  };
  const stats: ProcessingStats = { ...empty.stats, ...fields.stats };
  for (const [counter, storedField] of Object.entries(STORED_STATS_COUNTERS) as [StatsCounter, string][]) {
    stats[counter] = counterValue(fields.stats?.[counter]) + counterValue(storedCounters[storedField]);
  }
  return {
    uid,
    status: pick("status"),
    phase: pick("phase"),
    isProcessing: pick("isProcessing"),
    currentSlotId: pick("currentSlotId"),
    lastRunPhases: pick("lastRunPhases"),
    // Counters are kept with increments; an undo racing a reset (an admin resume) can leave one below 0.
    consecutiveFailures: counterValue(fields.consecutiveFailures),
    unfinishedRuns: counterValue(fields.unfinishedRuns),
    suspendUntil: pick("suspendUntil"),
    suspendReason: pick("suspendReason"),
    stats,
    actionHistory: pick("actionHistory"),
    recentErrors: pick("recentErrors"),
    ownKeyStored: pick("ownKeyStored"),
    ownKeyChangedAt: pick("ownKeyChangedAt"),
    ownKeyFound: pick("ownKeyFound"),
    ownKeyCheckedAt: pick("ownKeyCheckedAt"),
    lastFinishedRun: typeof fields.lastFinishedRun === "string" ? fields.lastFinishedRun : null,
    // Top-level fields in Firestore (incremented there); a map in the in-memory twin.
    usage: { ...usageFieldsOf(fields.usage ?? {}), ...usageFieldsOf(storedCounters) },
    deliveriesByDay: {
      ...deliveryDayFieldsOf(fields.deliveriesByDay ?? {}),
      ...deliveryDayFieldsOf(storedCounters),
    },
    ...(fields.insights !== undefined && fields.insights !== null
      ? { insights: parseStoredInsights(uid, fields.insights) }
      : fields.insights === null || fields.legacyInsightsRead === true
        ? { insights: null }
        : {}),
    ...(typeof fields.lastAcuteRiskAt === "number" && Number.isFinite(fields.lastAcuteRiskAt)
      ? {
          lastAcuteRiskAt: fields.lastAcuteRiskAt,
          ...(typeof fields.lastAcuteRiskSlotId === "string"
            ? { lastAcuteRiskSlotId: fields.lastAcuteRiskSlotId }
            : {}),
          ...(fields.lastAcuteRiskOutcome !== undefined
            ? { lastAcuteRiskOutcome: fields.lastAcuteRiskOutcome }
            : {}),
        }
      : {}),
    createdAt: pick("createdAt"),
    updatedAt: pick("updatedAt"),
  };
}

/** Insights as stored: null unless they hold the prompt's summary (another writer may store less). */
export function parseStoredInsights(uid: string, stored: unknown): UserInsights | null {
  if (typeof stored !== "object" || stored === null) return null;
  const insights = stored as Partial<UserInsights>;
  if (typeof insights.summary !== "string") return null;
  return {
    themes: [],
    goalsAndCommitments: [],
    moodTrend: "stable",
    challenges: [],
    notableChanges: [],
    latestSummary: "",
    analysedThrough: 0,
    batches: [],
    updatedAt: 0,
    ...insights,
    summary: insights.summary,
    uid,
  } as UserInsights;
}

function counterValue(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? Math.max(0, value) : 0;
}
