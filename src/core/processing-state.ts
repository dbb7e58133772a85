/**
 * Each user's processing state, as the engine keeps it (one document per user): status and
 * phase, counters, and rolling logs of actions and errors. Pure helpers; the pipeline records,
 * an adapter stores.
 */

import { z } from "zod";
import type { UserInsights } from "./insights";
import { applyUsageChange, type UsageChange, usageFieldsOf } from "./run-usage";

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
  lastProcessingAt: number | null;
  lastSentAt: number | null;
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
   * The insights derived from the user's journal (core/insights.ts), kept here for the same
   * reason. Null: none yet. Absent: never stored here (a state from before insights moved here;
   * the insights store then reads the old `userInsights` document, once).
   */
  insights?: UserInsights | null;
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
      lastProcessingAt: null,
      lastSentAt: null,
    },
    actionHistory: [],
    recentErrors: [],
    ownKeyStored: null,
    ownKeyChangedAt: null,
    ownKeyFound: null,
    ownKeyCheckedAt: null,
    usage: {},
    createdAt: now,
    updatedAt: now,
  };
}

/** The counters under `stats`. */
export type StatsCounter =
  | "messagesGenerated"
  | "messagesSent"
  | "gateSkipped"
  | "errors"
  | "duplicatesSkipped";

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
    // Top-level fields in Firestore (incremented there); a map in the in-memory twin.
    usage: { ...usageFieldsOf(fields.usage ?? {}), ...usageFieldsOf(storedCounters) },
    ...(fields.insights === undefined ? {} : { insights: parseStoredInsights(uid, fields.insights) }),
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

/** Counters kept with atomic increments (`FieldValue.increment` on Firestore), never read-modify-write. */
export type ProcessingCounter = "consecutiveFailures" | "unfinishedRuns" | StatsCounter;

/**
 * A change to one user's processing state, written field by field so concurrent writers never
 * lose each other's changes: counters by increment, plain fields as given (each says what the
 * latest run did). The rolling logs are whole lists, computed by the caller from a read: a
 * concurrent writer can lose entries there (bounded, and only a log), never a count or a status.
 */
export interface ProcessingStateChange {
  set?: Partial<
    Pick<
      ProcessingState,
      | "status"
      | "phase"
      | "isProcessing"
      | "currentSlotId"
      | "lastRunPhases"
      | "consecutiveFailures"
      | "unfinishedRuns"
      | "suspendUntil"
      | "suspendReason"
      | "actionHistory"
      | "recentErrors"
      | "ownKeyFound"
      | "ownKeyCheckedAt"
      | "insights"
    >
  >;
  /** LLM usage recorded (core/run-usage.ts): counters incremented, earlier windows' fields dropped. */
  usage?: UsageChange;
  stats?: Partial<Pick<ProcessingStats, "lastProcessingAt" | "lastSentAt">>;
  /** Amounts added to counters; a counter is either set or incremented in one change, not both. */
  increment?: Partial<Record<ProcessingCounter, number>>;
}

const TOP_LEVEL_COUNTERS: ReadonlySet<ProcessingCounter> = new Set(["consecutiveFailures", "unfinishedRuns"]);

/** Whether a counter lives at the top level of the state (the others are under `stats`). */
export function isTopLevelCounter(
  counter: ProcessingCounter,
): counter is "consecutiveFailures" | "unfinishedRuns" {
  return TOP_LEVEL_COUNTERS.has(counter);
}

/** The state after `change`, as a store applies it (for in-memory stores and tests). */
export function applyProcessingStateChange(
  state: ProcessingState,
  change: ProcessingStateChange,
  now: number,
): ProcessingState {
  const next: ProcessingState = {
    ...state,
    ...change.set,
    stats: { ...state.stats, ...change.stats },
    usage: change.usage ? applyUsageChange(state.usage, change.usage) : state.usage,
    updatedAt: now,
  };
  for (const [counter, amount] of Object.entries(change.increment ?? {}) as [ProcessingCounter, number][]) {
    if (isTopLevelCounter(counter)) next[counter] += amount;
    else next.stats[counter] += amount;
  }
  return next;
}

/** Newest first, at most `max`: the rolling logs never grow past their cap. */
export function prependRolling<Entry>(
  list: readonly Entry[],
  entries: readonly Entry[],
  max: number,
): Entry[] {
  return [...[...entries].reverse(), ...list].slice(0, max);
}

export interface SuspensionPolicy {
  /** Consecutive failed runs that suspend a user. */
  maxConsecutiveFailures: number;
  /** How long an automatic suspension lasts. */
  suspensionMs: number;
}

/**
 * At a claim: whether runs that never finished (killed, timed out) have already taken the user
 * to the failure limit, so the user is suspended instead of run. Only an unjudged streak counts:
 * once a run finishes, `finishRun` has judged the streak, and after a suspension ends the user
 * gets a run again.
 */
export function decideSuspensionAtClaim({
  state,
  now,
  policy,
}: {
  state: ProcessingState | null;
  now: number;
  policy: SuspensionPolicy;
}): { suspend: false } | { suspend: true; suspendUntil: number; suspendReason: string } {
  if (!state || state.unfinishedRuns <= 0) return { suspend: false };
  return decideAutoSuspension({
    consecutiveFailures: state.consecutiveFailures,
    lastFailure: `${state.unfinishedRuns} run(s) did not finish (killed or timed out)`,
    now,
    policy,
  });
}

/** Whether the failures so far suspend the user, and until when. */
export function decideAutoSuspension({
  consecutiveFailures,
  lastFailure,
  now,
  policy,
}: {
  consecutiveFailures: number;
  lastFailure: string;
  now: number;
  policy: SuspensionPolicy;
}): { suspend: false } | { suspend: true; suspendUntil: number; suspendReason: string } {
  if (consecutiveFailures < policy.maxConsecutiveFailures) return { suspend: false };
  return {
    suspend: true,
    suspendUntil: now + policy.suspensionMs,
    suspendReason:
      `suspended automatically after ${consecutiveFailures} consecutive failures; last: ${lastFailure}`.slice(
        0,
        500,
      ),
  };
}

/**
 * How far apart two clocks (a key route's, a run's) may be: evidence about the user's own key that
 * close in time to the other writer's is not trusted to be the later one.
 */
export const OWN_KEY_CLOCK_MARGIN_MS = 5 * 60_000;

/**
 * How long a "no key" word is trusted. Past it a run looks the key up again (and records what it
 * found), so a key document the word does not know of (a key route whose clock is more than
 * `OWN_KEY_CLOCK_MARGIN_MS` behind the processor's, a writer that predates the word, a restore) is
 * found within this time rather than never. About one read a week per user without a key.
 */
export const OWN_KEY_RECHECK_MS = 7 * 24 * 3_600_000;

/**
 * Whether a run at `now` must look the user's own key up. Not when the latest word on the state
 * is "no key", less than `OWN_KEY_RECHECK_MS` old: the key routes' (a key removed, or stored
 * fields written with none) or an earlier run's lookup that found no key document, with no key
 * route's write since. Two words within `OWN_KEY_CLOCK_MARGIN_MS` of each other are too close to
 * order, and an unknown state (an older one, or none) knows nothing: both mean a lookup, whose
 * result the run then records.
 */
export function ownKeyLookupNeeded(state: ProcessingState | null, now: number): boolean {
  if (!state) return true;
  const routeWord =
    state.ownKeyStored !== null && state.ownKeyChangedAt !== null
      ? { at: state.ownKeyChangedAt, present: state.ownKeyStored }
      : null;
  const runWord =
    state.ownKeyFound !== null && state.ownKeyCheckedAt !== null
      ? { at: state.ownKeyCheckedAt, present: state.ownKeyFound }
      : null;
  if (routeWord && runWord && Math.abs(routeWord.at - runWord.at) < OWN_KEY_CLOCK_MARGIN_MS) return true;
  const latest =
    routeWord && runWord ? (routeWord.at > runWord.at ? routeWord : runWord) : (routeWord ?? runWord);
  // Either way round: a word from a clock far ahead is not trusted for longer than one behind.
  return latest === null || latest.present || Math.abs(now - latest.at) >= OWN_KEY_RECHECK_MS;
}

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
      lastProcessingAt: optional(instant.nullable()),
      lastSentAt: optional(instant.nullable()),
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
    ...known,
    ...(stats ? { stats } : {}),
  } as Partial<ProcessingState>);
}
