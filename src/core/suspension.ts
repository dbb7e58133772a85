/**
 * When a user is suspended, and what lifts it: automatically, after repeated failures (at a claim,
 * for runs that never finished, and at a run's end, for the failure streak), and by an operator
 * (the admin pages and API). Pure: `now` is passed in.
 */
import { type ActionEntry, MAX_ACTION_HISTORY, type ProcessingState } from "./processing-state";
import { prependRolling } from "./processing-state-change";

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

/** The state with an operator's action first in its history. */
function withOperatorAction(
  state: ProcessingState,
  entry: Pick<ActionEntry, "action" | "details" | "metadata">,
  now: number,
): ProcessingState["actionHistory"] {
  return prependRolling(
    state.actionHistory,
    [{ timestamp: now, messageId: null, success: true, ...entry }],
    MAX_ACTION_HISTORY,
  );
}

/** The state after an operator suspends the user until `until`, for `reason`. */
export function suspendedByOperator(
  state: ProcessingState,
  { until, reason, now }: { until: number; reason: string; now: number },
): ProcessingState {
  return {
    ...state,
    status: "suspended",
    suspendUntil: until,
    suspendReason: reason,
    actionHistory: withOperatorAction(
      state,
      { action: "suspended", details: reason, metadata: { until } },
      now,
    ),
    updatedAt: now,
  };
}

/** The state after an operator lifts a suspension: waiting, with a new failure streak. */
export function resumedByOperator(state: ProcessingState, now: number): ProcessingState {
  return {
    ...state,
    status: "waiting",
    suspendUntil: null,
    suspendReason: null,
    consecutiveFailures: 0,
    actionHistory: withOperatorAction(state, { action: "resumed", details: null, metadata: {} }, now),
    updatedAt: now,
  };
}
