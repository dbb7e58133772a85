/**
 * What the scheduler does with one user it has read, as pure decisions. The pipeline applies
 * them; nothing here performs I/O.
 */
import { bootstrapDueAt, isInsideWindow, nextWindowTarget, retryDueAt } from "./schedule";
import { isCoachingEnabled, type UserSnapshot } from "./user";

export type DueUserDecisionReason =
  | "outside_window"
  | "disabled"
  | "invalid_document"
  | "suspended"
  | "breaker_open";

export type DueUserDecision =
  | { action: "dispatch" }
  | { action: "reschedule"; nextCoachingMessageDue: number; reason: DueUserDecisionReason };

export type UnscheduledUserDecision = {
  nextCoachingMessageDue: number;
  reason: "bootstrapped" | "disabled" | "invalid_document";
};

/**
 * Whether a due time written for this reason only parks the user (coaching off, or a document
 * the engine cannot read) rather than scheduling a message. Such a write is marked, so that a
 * user who switches coaching back on can be brought forward without a real schedule ever being
 * moved earlier.
 */
export function isParking(reason: DueUserDecisionReason | UnscheduledUserDecision["reason"]): boolean {
  return reason === "disabled" || reason === "invalid_document";
}

/**
 * Whether a due user rescheduled for this reason goes without the message of this window (moved
 * to the next window, or given the retry interval while the breaker is open). Such a user's next
 * due time is ranked ahead of those who were served (core/due-rank.ts), so a user who missed a
 * window comes first at the next.
 */
export function missesWindow(reason: DueUserDecisionReason): boolean {
  return reason === "outside_window" || reason === "breaker_open";
}

interface DecisionInput {
  snapshot: UserSnapshot;
  now: number;
  /**
   * How long a disabled or unreadable user is parked before it is looked at again. Parking
   * keeps such users out of every tick's due query; a user who turns coaching back on is
   * picked up at the next re-check at the latest (at once with `user.coaching.enabled`).
   */
  recheckAfterMs: number;
}

/**
 * A due user: dispatch when enabled, not suspended and inside the preferred window, otherwise
 * reschedule. A suspended user is parked until `suspendUntil`. While the LLM circuit breaker is
 * open, a user who would be dispatched gets the retry interval instead, without an LLM call.
 */
export function decideDueUser({
  snapshot,
  now,
  recheckAfterMs,
  breakerOpen = false,
}: DecisionInput & { breakerOpen?: boolean }): DueUserDecision {
  if (!isCoachingEnabled(snapshot)) {
    return { action: "reschedule", nextCoachingMessageDue: now + recheckAfterMs, reason: "disabled" };
  }
  if (!snapshot.valid) {
    return { action: "reschedule", nextCoachingMessageDue: now + recheckAfterMs, reason: "invalid_document" };
  }
  const { timezone, coachingConfig, suspendUntil } = snapshot.user;
  if (typeof suspendUntil === "number" && suspendUntil > now) {
    return { action: "reschedule", nextCoachingMessageDue: suspendUntil, reason: "suspended" };
  }
  if (!isInsideWindow({ at: now, timezone, timePreference: coachingConfig.timePreference })) {
    return {
      action: "reschedule",
      nextCoachingMessageDue: nextWindowTarget({
        now,
        timezone,
        timePreference: coachingConfig.timePreference,
      }),
      reason: "outside_window",
    };
  }
  if (breakerOpen) {
    return {
      action: "reschedule",
      nextCoachingMessageDue: retryDueAt({ now, frequency: coachingConfig.frequency }),
      reason: "breaker_open",
    };
  }
  return { action: "dispatch" };
}

/** A user with no schedule yet: a random first due time when enabled, otherwise parked. */
export function decideUnscheduledUser({
  snapshot,
  now,
  recheckAfterMs,
  random,
}: DecisionInput & { random: () => number }): UnscheduledUserDecision {
  if (!isCoachingEnabled(snapshot)) {
    return { nextCoachingMessageDue: now + recheckAfterMs, reason: "disabled" };
  }
  if (!snapshot.valid) {
    return { nextCoachingMessageDue: now + recheckAfterMs, reason: "invalid_document" };
  }
  return {
    nextCoachingMessageDue: bootstrapDueAt({
      now,
      frequency: snapshot.user.coachingConfig.frequency,
      random,
    }),
    reason: "bootstrapped",
  };
}
