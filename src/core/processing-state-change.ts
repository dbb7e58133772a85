/**
 * A change to a user's processing state as the pipeline writes it (counters by increment, plain
 * fields as given) and as a store applies it; the rolling logs' cap. Pure.
 */
import { type DeliveryChannel, deliveryDayField } from "./delivery-counts";
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
  stats?: Partial<
    Pick<ProcessingStats, "lastProcessingAt" | "lastSentAt" | "lastEmailSentAt" | "lastPushSentAt">
  >;
  /** Per-day delivery counters (`ProcessingState.deliveriesByDay`): incremented, older days' dropped. */
  deliveriesByDay?: { increment: Record<string, number>; remove: string[] };
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
    deliveriesByDay: change.deliveriesByDay
      ? applyUsageChange(state.deliveriesByDay, change.deliveriesByDay)
      : state.deliveriesByDay,
    updatedAt: now,
  };
  for (const [counter, amount] of Object.entries(change.increment ?? {}) as [ProcessingCounter, number][]) {
    if (isTopLevelCounter(counter)) next[counter] += amount;
    else next.stats[counter] += amount;
  }
  return next;
}

/**
 * How many earlier days' delivery counters a delivery's write drops, by name and without a read:
 * a state keeps today's field, plus one older field per gap of more than this between two sends.
 */
export const DELIVERY_DAYS_DROPPED = 31;
const DAY_MS = 86_400_000;

/**
 * The change that counts what one delivery sent at `now`: the totals and today's counters
 * incremented and the last times set (written by the outbox's delivery handler, never by the
 * processor), and the previous days' counters dropped. Null when nothing was sent.
 */
export function recordDeliveries({
  email,
  push,
  now,
}: {
  email: boolean;
  push: boolean;
  now: number;
}): ProcessingStateChange | null {
  const channels: DeliveryChannel[] = [
    ...(email ? (["emails"] as const) : []),
    ...(push ? (["pushes"] as const) : []),
  ];
  if (channels.length === 0) return null;
  const increment: Partial<Record<ProcessingCounter, number>> = {};
  const stats: NonNullable<ProcessingStateChange["stats"]> = {};
  const byDay: Record<string, number> = {};
  const remove: string[] = [];
  for (const channel of channels) {
    increment[channel === "emails" ? "emailsSent" : "pushesSent"] = 1;
    stats[channel === "emails" ? "lastEmailSentAt" : "lastPushSentAt"] = now;
    byDay[deliveryDayField(channel, now)] = 1;
    for (let day = 1; day <= DELIVERY_DAYS_DROPPED; day += 1)
      remove.push(deliveryDayField(channel, now - day * DAY_MS));
  }
  return { increment, stats, deliveriesByDay: { increment: byDay, remove } };
}

/** Newest first, at most `max`: the rolling logs never grow past their cap. */
export function prependRolling<Entry>(
  list: readonly Entry[],
  entries: readonly Entry[],
  max: number,
): Entry[] {
  return [...[...entries].reverse(), ...list].slice(0, max);
}
