/**
 * What a processor run records in the user's processing state: phases passed, an action per
 * step, errors with their phase, counters, and automatic suspension after repeated failures.
 *
 * A run writes the state twice (a merge when it starts, the full state when it ends) rather
 * than once per phase: the phases are kept in memory and stored at the end, which keeps a
 * user's processing at a handful of document writes. Runs of one user are serialised by the
 * slot lease, so the read-modify-write at the end does not race with another run of that user.
 */
import {
  type ActionEntry,
  decideAutoSuspension,
  type ErrorEntry,
  emptyProcessingState,
  MAX_ACTION_HISTORY,
  MAX_RECENT_ERRORS,
  type ProcessingPhase,
  type ProcessingState,
  prependRolling,
  type SuspensionPolicy,
} from "@/core/processing-state";
import type { ProcessingStateStore, ProcessorStore } from "./processor-ports";

export interface RunLog {
  phases: ProcessingPhase[];
  actions: ActionEntry[];
  draftsGenerated: number;
}

export function newRunLog(): RunLog {
  return { phases: [], actions: [], draftsGenerated: 0 };
}

export function logPhase(log: RunLog, phase: ProcessingPhase): void {
  if (log.phases.at(-1) !== phase) log.phases.push(phase);
}

export function logAction(
  log: RunLog,
  entry: Omit<ActionEntry, "details" | "messageId" | "success" | "metadata"> & Partial<ActionEntry>,
): void {
  log.actions.push({ details: null, messageId: null, success: true, metadata: {}, ...entry });
}

export interface ProcessingLogDeps {
  store: ProcessorStore;
  stateStore?: ProcessingStateStore;
  suspension: SuspensionPolicy;
}

export type RunEnding =
  | "sent"
  | "gate_failed"
  | "generation_failed"
  | "breaker_open"
  | "quota_exceeded"
  | "error";

/** A duplicate call for a slot another run holds or finished: counted, not processed. */
export async function recordDuplicate(
  deps: ProcessingLogDeps,
  { uid, now, reason }: { uid: string; now: number; reason: string },
): Promise<void> {
  if (!deps.stateStore) return;
  const state = (await deps.stateStore.getState(uid)) ?? emptyProcessingState(uid, now);
  await deps.stateStore.saveState({
    ...state,
    stats: { ...state.stats, duplicatesSkipped: state.stats.duplicatesSkipped + 1 },
    actionHistory: prependRolling(
      state.actionHistory,
      [
        {
          timestamp: now,
          action: "duplicate_skipped",
          details: reason,
          messageId: null,
          success: true,
          metadata: {},
        },
      ],
      MAX_ACTION_HISTORY,
    ),
    updatedAt: now,
  });
}

/**
 * Stores the end of a run. Failed runs (generation errors, failed gates, unexpected errors)
 * count towards automatic suspension; a breaker deferral does not (an outage is not the user's
 * failure); a sent message resets the count. Returns the suspension, if this run caused one.
 */
export async function finishRun(
  deps: ProcessingLogDeps,
  {
    uid,
    slotId,
    now,
    log,
    ending,
    messageId,
    failureReason,
  }: {
    uid: string;
    slotId: string;
    now: number;
    log: RunLog;
    ending: RunEnding;
    messageId: string | null;
    failureReason: string | null;
  },
): Promise<{ suspendUntil: number; suspendReason: string } | null> {
  if (!deps.stateStore) return null;
  const state: ProcessingState = (await deps.stateStore.getState(uid)) ?? emptyProcessingState(uid, now);
  const failed = ending === "gate_failed" || ending === "generation_failed" || ending === "error";
  const isError = ending === "generation_failed" || ending === "error";
  const consecutiveFailures = failed
    ? state.consecutiveFailures + 1
    : ending === "sent"
      ? 0
      : state.consecutiveFailures;
  const lastPhase = log.phases.at(-1) ?? "building_context";

  const errors: ErrorEntry[] = isError
    ? [
        {
          timestamp: now,
          phase: lastPhase,
          messageId,
          errorMessage: (failureReason ?? "unknown error").slice(0, 500),
          errorType: ending,
        },
      ]
    : [];
  const actions: ActionEntry[] = [
    ...log.actions,
    {
      timestamp: now,
      action: "run_finished",
      details: failureReason ? `${ending}: ${failureReason}`.slice(0, 500) : ending,
      messageId,
      success: !failed,
      metadata: { slotId, phases: log.phases.join(">") },
    },
  ];
  const suspension = failed
    ? decideAutoSuspension({
        consecutiveFailures,
        lastFailure: failureReason ?? ending,
        now,
        policy: deps.suspension,
      })
    : { suspend: false as const };

  const next: ProcessingState = {
    ...state,
    status: suspension.suspend ? "suspended" : isError ? "error" : "waiting",
    phase: isError ? "error" : "idle",
    isProcessing: false,
    currentSlotId: null,
    lastRunPhases: isError ? [...log.phases, "error"] : log.phases,
    consecutiveFailures,
    ...(suspension.suspend
      ? { suspendUntil: suspension.suspendUntil, suspendReason: suspension.suspendReason }
      : {}),
    stats: {
      ...state.stats,
      messagesGenerated: state.stats.messagesGenerated + log.draftsGenerated,
      messagesSent: state.stats.messagesSent + (ending === "sent" ? 1 : 0),
      gateSkipped: state.stats.gateSkipped + (ending === "gate_failed" ? 1 : 0),
      errors: state.stats.errors + (isError ? 1 : 0),
      lastProcessingAt: now,
      lastSentAt: ending === "sent" ? now : state.stats.lastSentAt,
    },
    actionHistory: prependRolling(state.actionHistory, actions, MAX_ACTION_HISTORY),
    recentErrors: prependRolling(state.recentErrors, errors, MAX_RECENT_ERRORS),
    updatedAt: now,
  };
  await deps.stateStore.saveState(next);
  if (!suspension.suspend) return null;
  await deps.stateStore.setUserSuspension({ uid, suspendUntil: suspension.suspendUntil });
  await deps.store.setNextDue({ uid, nextCoachingMessageDue: suspension.suspendUntil });
  return { suspendUntil: suspension.suspendUntil, suspendReason: suspension.suspendReason };
}
