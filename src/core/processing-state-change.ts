/**
 * A change to a user's processing state as the pipeline writes it (counters by increment, plain
 * fields as given) and as a store applies it; the rolling logs' cap. Pure.
 */
import type { ProcessingState, ProcessingStats, StatsCounter } from "./processing-state";
import { applyUsageChange, type UsageChange } from "./run-usage";

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
      | "legacyInsightsRead"
      | "lastFinishedRun"
      | "lastAcuteRiskAt"
      | "lastAcuteRiskSlotId"
      | "lastAcuteRiskOutcome"
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
