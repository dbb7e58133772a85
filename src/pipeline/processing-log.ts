// Over 300 lines: one concern, a run's two processing-state writes (its claim, its end), used by every processor step.
/**
 * What a processor run records in the user's processing state: phases passed, an action per
 * step, errors with their phase, counters, and automatic suspension after repeated failures.
 *
 * A run reads the state once (at its claim, kept for its end) and writes it twice (when it is
 * claimed, and when it ends) rather than once per
 * phase: the phases are kept in memory and stored at the end, which keeps a user's processing at
 * a handful of document writes. Both writes are field updates with counters incremented
 * (`ProcessingStateChange`), so a duplicate call recorded meanwhile, or an overlapping run, never
 * loses a count or rolls the status back. Only the rolling logs (20 actions, 10 errors) are
 * read-modify-write: two writers at once can drop the other's entries of a log, nothing else.
 *
 * A run counts as a failure from its claim (`markRunning`), so a run that is always killed
 * (`maxDuration`) still moves the user towards suspension; `startRun` suspends at the claim when
 * such runs have reached the limit.
 */

import type { SlotOutcome } from "@/core/due-slot";
import type { UserInsights } from "@/core/insights";
import {
  type ActionEntry,
  type ErrorEntry,
  MAX_ACTION_HISTORY,
  MAX_RECENT_ERRORS,
  type ProcessingPhase,
  type ProcessingState,
} from "@/core/processing-state";
import { type ProcessingStateChange, prependRolling } from "@/core/processing-state-change";
import type { RiskLevel } from "@/core/risk";
import type { UsageChange } from "@/core/run-usage";
import { decideAutoSuspension, decideSuspensionAtClaim, type SuspensionPolicy } from "@/core/suspension";
import type { ProcessingStateStore, ProcessorStore } from "./processor-store-ports";

export interface RunLog {
  phases: ProcessingPhase[];
  actions: ActionEntry[];
  draftsGenerated: number;
  /** The run looked the user's own key up at `at`: whether a key document exists, for the state. */
  ownKeyCheck: { at: number; stored: boolean } | null;
  /** The LLM usage the run records with its end (pipeline/state-quota.ts `createRunQuota`). */
  usage: UsageChange | null;
  /** Insights the run refreshed, stored with its end; undefined: none to store. */
  insights?: UserInsights | null;
  /** The highest risk the run's drafts assessed (core/risk.ts); `acute` flags the user with the run's end. */
  riskLevel?: RiskLevel;
  /** The operator's note of the draft that set `riskLevel`. */
  riskReason?: string;
}

export function newRunLog(): RunLog {
  return { phases: [], actions: [], draftsGenerated: 0, ownKeyCheck: null, usage: null };
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
  stateStore: ProcessingStateStore;
  suspension: SuspensionPolicy;
}

/** How a run ended: its slot's outcome, or an error thrown before one. */
export type RunEnding = SlotOutcome | "error";

export interface Suspension {
  suspendUntil: number;
  suspendReason: string;
}

/** The state's action history with one entry in front (the rolling log keeps the newest). */
function prependAction(
  state: ProcessingState | null,
  entry: Pick<ActionEntry, "timestamp" | "action" | "details" | "success" | "metadata">,
): ActionEntry[] {
  return prependRolling(state?.actionHistory ?? [], [{ ...entry, messageId: null }], MAX_ACTION_HISTORY);
}

/** A duplicate call for a slot another run holds or finished: counted, not processed. */
export async function recordDuplicate(
  deps: ProcessingLogDeps,
  { uid, now, reason }: { uid: string; now: number; reason: string },
): Promise<void> {
  const state = await deps.stateStore.getState(uid);
  await deps.stateStore.updateState({
    uid,
    now,
    change: {
      set: {
        actionHistory: prependAction(state, {
          timestamp: now,
          action: "duplicate_skipped",
          details: reason,
          success: true,
          metadata: {},
        }),
      },
      increment: { duplicatesSkipped: 1 },
    },
  });
}

/** Suspends the user: the state, the user document's `suspendUntil`, and the due time. */
async function suspend(
  deps: ProcessingLogDeps,
  {
    uid,
    suspension,
    change,
    now,
  }: { uid: string; suspension: Suspension; change: ProcessingStateChange; now: number },
): Promise<void> {
  await deps.stateStore.updateState({
    uid,
    now,
    change: {
      ...change,
      set: {
        ...change.set,
        status: "suspended",
        suspendUntil: suspension.suspendUntil,
        suspendReason: suspension.suspendReason,
      },
    },
  });
  await deps.stateStore.setUserSuspension({ uid, suspendUntil: suspension.suspendUntil });
  await deps.store.setNextDue({ uid, nextCoachingMessageDue: suspension.suspendUntil });
}

/** What `startRun` found and decided: the state as read at the claim, and a suspension if any. */
export interface StartedRun {
  /**
   * The state as read before the run was marked started (null: none yet). The run keeps it for
   * its end (`finishRun`), so a run reads its state once.
   */
  state: ProcessingState | null;
  suspension: Suspension | null;
}

/**
 * Call once when a run has claimed its slot, instead of `stateStore.markRunning`. Marks the run
 * started, counting it as a (provisional) failure, unless runs that never finished (killed by
 * `maxDuration`, timed out) have already taken the user to the failure limit: then the user is
 * suspended instead (state, `suspendUntil`, due time), nothing is counted, and the suspension is
 * returned; the caller must not run the slot and should complete it with the suspension's time
 * as the next due time. Returns the state it read, for the run's end.
 */
export async function startRun(
  deps: ProcessingLogDeps,
  {
    uid,
    slotId,
    now,
    resumesApprovedMessage = false,
    stateRead,
  }: {
    uid: string;
    slotId: string;
    now: number;
    /**
     * The state as the caller read it before the claim (`{ state: null }`: none), so it is read
     * once per run; without it the state is read here.
     */
    stateRead?: { state: ProcessingState | null };
    /**
     * The slot already holds an approved message: the run only finishes delivering it (no LLM
     * call), so it is never stopped by a suspension; the user is owed that message.
     */
    resumesApprovedMessage?: boolean;
  },
): Promise<StartedRun> {
  const state = stateRead ? stateRead.state : await deps.stateStore.getState(uid);
  const decision = resumesApprovedMessage
    ? ({ suspend: false } as const)
    : decideSuspensionAtClaim({ state, now, policy: deps.suspension });
  if (!decision.suspend) {
    await deps.stateStore.markRunning({
      uid,
      phase: "building_context",
      status: "running",
      currentSlotId: slotId,
      now,
    });
    return { state, suspension: null };
  }
  const suspension = { suspendUntil: decision.suspendUntil, suspendReason: decision.suspendReason };
  await suspend(deps, {
    uid,
    suspension,
    now,
    change: {
      set: {
        phase: "idle",
        isProcessing: false,
        currentSlotId: null,
        // Judged: the streak led to this suspension; after it ends the user gets a run again.
        unfinishedRuns: 0,
        actionHistory: prependAction(state, {
          timestamp: now,
          action: "suspended",
          details: suspension.suspendReason,
          success: false,
          metadata: { slotId, until: suspension.suspendUntil },
        }),
      },
    },
  });
  return { state, suspension };
}

/**
 * Stores the end of a run, from the state the run read at its claim (`StartedRun.state`), without
 * reading it again. Since the claim the run has counted itself (+1 failure, +1 unfinished, by
 * increment); whatever else was written meanwhile is kept except in the rolling logs, which are
 * whole lists: a duplicate call recorded during the run can lose its log entry (its count stays).
 * An admin's suspension during the run stays in force (`suspendUntil` on the user and the state is
 * never written here), though the status then reads as this run's ending until the next write.
 * Failed runs (generation errors, failed gates, unexpected errors)
 * count towards automatic suspension (they were counted at the claim); a deferral (breaker open,
 * quota stop, the LLM provider unavailable) does not (not the user's failure: the claim's count
 * is taken back), though a provider's error is kept in the recent errors for operators; a sent
 * message resets the count. Returns the suspension, if this run caused one.
 */
export async function finishRun(
  deps: ProcessingLogDeps,
  {
    uid,
    slotId,
    now,
    state,
    log,
    ending,
    messageId,
    failureReason,
    claimToken,
  }: {
    uid: string;
    slotId: string;
    now: number;
    /** The run's claim token, recorded as the last run finished (`lastFinishedRun`). */
    claimToken: string;
    /** The state as the run read it at its claim, before counting itself. */
    state: ProcessingState | null;
    log: RunLog;
    ending: RunEnding;
    messageId: string | null;
    failureReason: string | null;
  },
): Promise<Suspension | null> {
  // Every count is written as an increment; the read at the claim serves the rolling logs and the
  // suspension decision.
  const failed = ending === "gate_failed" || ending === "generation_failed" || ending === "error";
  const isError = ending === "generation_failed" || ending === "error";
  const sent = ending === "sent";
  // Shown to operators with the phase it happened in; neither counted nor an error status.
  const recorded = isError || ending === "provider_unavailable";
  const lastPhase = log.phases.at(-1) ?? "building_context";

  const errors: ErrorEntry[] = recorded
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
  // This run was counted at its claim, after the state was read: the streak includes it.
  const consecutiveFailures = (state?.consecutiveFailures ?? 0) + 1;
  const suspension = failed
    ? decideAutoSuspension({
        consecutiveFailures,
        lastFailure: failureReason ?? ending,
        now,
        policy: deps.suspension,
      })
    : { suspend: false as const };

  // An admin may have suspended the user before this run: the run must not lift that.
  const suspendedMeanwhile = (state?.suspendUntil ?? 0) > now;
  const change: ProcessingStateChange = {
    set: {
      status: suspendedMeanwhile ? "suspended" : isError ? "error" : "waiting",
      phase: isError ? "error" : "idle",
      isProcessing: false,
      currentSlotId: null,
      lastRunPhases: isError ? [...log.phases, "error"] : log.phases,
      // This run finished: the streak, killed runs included, is judged here.
      unfinishedRuns: 0,
      ...(sent ? { consecutiveFailures: 0 } : {}),
      actionHistory: prependRolling(state?.actionHistory ?? [], actions, MAX_ACTION_HISTORY),
      recentErrors: prependRolling(state?.recentErrors ?? [], errors, MAX_RECENT_ERRORS),
      // What the run's key lookup found, so the next runs of a user without a key skip it.
      ...(log.ownKeyCheck
        ? { ownKeyFound: log.ownKeyCheck.stored, ownKeyCheckedAt: log.ownKeyCheck.at }
        : {}),
      lastFinishedRun: claimToken,
      // The operator's flag rides on this write: no document operation of its own.
      // With how the run ended, so the page never says a message was sent when none was.
      ...(log.riskLevel === "acute"
        ? { lastAcuteRiskAt: now, lastAcuteRiskSlotId: slotId, lastAcuteRiskOutcome: ending }
        : {}),
      // Kept on the state, read with it by the next run (core/processing-state.ts).
      ...(log.insights
        ? { insights: log.insights }
        : log.insights === null
          ? { legacyInsightsRead: true }
          : {}),
    },
    ...(log.usage ? { usage: log.usage } : {}),
    stats: { lastProcessingAt: now, ...(sent ? { lastSentAt: now } : {}) },
    increment: {
      ...(failed || sent ? {} : { consecutiveFailures: -1 }),
      messagesGenerated: log.draftsGenerated,
      messagesSent: sent ? 1 : 0,
      gateSkipped: ending === "gate_failed" ? 1 : 0,
      errors: isError ? 1 : 0,
    },
  };
  if (!suspension.suspend) {
    await deps.stateStore.updateState({ uid, now, change });
    return null;
  }
  const result = { suspendUntil: suspension.suspendUntil, suspendReason: suspension.suspendReason };
  await suspend(deps, { uid, suspension: result, change, now });
  return result;
}
