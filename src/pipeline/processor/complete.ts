/** Completing a slot under the fence, the reschedule and the run's end; recovering a run that threw. */
import { missedWindowsOf } from "@/core/due-rank";
import type { SlotOutcome, SlotRecord } from "@/core/due-slot";
import { describeError } from "@/core/errors";
import { messageCreatedEventId } from "@/core/events";
import type { ProcessingState } from "@/core/processing-state";
import { keepsUsualSchedule } from "@/core/risk";
import { nextDueAfterSuccess, retryDueAt } from "@/core/schedule";
import { isCoachingEnabled, scheduleSettingsOf } from "@/core/user";
import { finishRun, type RunEnding } from "../processing-log";
import {
  type ClaimedSlot,
  dueAfterOutcome,
  missedWindowsAfter,
  type ProcessOutcome,
  type ProcessorDeps,
  step,
  underNextLease,
} from "./run";

/** What a run ends a slot with: its outcome, message, failure and, if other than the outcome, the run's ending. */
interface SlotResult {
  outcome: SlotOutcome;
  messageId: string | null;
  failureReason: string | null;
  ending?: RunEnding;
}

/**
 * What a run whose lease was taken over reports: nothing of its own was recorded. `current`: the
 * slot as just read, when the caller has it.
 */
export async function supersededOutcome(
  deps: ProcessorDeps,
  claim: ClaimedSlot,
  result: { outcome: SlotOutcome; messageId: string | null },
  current?: SlotRecord | null,
): Promise<ProcessOutcome> {
  const { slot } = claim;
  current ??= await deps.store.getSlot(slot.slotId);
  return {
    slotId: slot.slotId,
    messageGenerated: false,
    outcome: result.outcome,
    messageId: result.messageId,
    nextCoachingMessageDue: current?.nextCoachingMessageDue ?? slot.dueAt,
    failureReason: `lease ${slot.leaseNumber} expired and the slot was taken over; this run's outcome was discarded`,
    deliveryEventId: null,
    superseded: true,
  };
}

export async function completeSlot(
  deps: ProcessorDeps,
  claim: ClaimedSlot,
  now: number,
  result: SlotResult & {
    /** Overrides the computed due time (a quota that frees at a known time). */
    nextDueAt?: number;
  },
): Promise<ProcessOutcome> {
  const { slot, user } = claim;
  const settings = scheduleSettingsOf(user);
  // A run that assessed acute risk keeps the usual next time however it ends (an outcome or a
  // throw recovered by `recoverFromError`): risk never brings the next message earlier.
  const nextCoachingMessageDue =
    result.nextDueAt ??
    (result.outcome === "sent" || keepsUsualSchedule(claim.log.riskLevel)
      ? nextDueAfterSuccess({ now, ...settings })
      : retryDueAt({ now, frequency: settings.frequency }));
  // The slot records its outcome first, so a run that dies before the reschedule below is finished
  // by the next; and only while this run still owns it (a run that was taken over stops here).
  const completion = await deps.store.claimSlot({
    slot: underNextLease(slot, now, {
      status: "completed",
      outcome: result.outcome,
      messageId: result.messageId,
      nextCoachingMessageDue,
      failureReason: result.failureReason,
    }),
    purpose: "complete",
    now,
    claimToken: claim.claimToken,
  });
  if (completion === "taken") return supersededOutcome(deps, claim, result);
  return afterCompletion(deps, claim, now, { ...result, nextCoachingMessageDue });
}

/** What follows a slot's completion by this run: the reschedule, the run's end, the outcome. */
export async function afterCompletion(
  deps: ProcessorDeps,
  claim: ClaimedSlot,
  now: number,
  result: SlotResult & { nextCoachingMessageDue: number },
  /**
   * The state as read after an error, when the run's end may have been written already: then it
   * is not written (counted) again, and only a suspension it decided is written to the user again.
   */
  stateAfterError?: ProcessingState | null,
): Promise<ProcessOutcome> {
  const { slot, user } = claim;
  const { nextCoachingMessageDue } = result;
  await step(deps, "slot_completed", claim, now, result.messageId ?? undefined);
  // The enable flag as this run read it at its claim rides in the reschedule (no write of its own).
  await deps.store.setNextDue({
    uid: user.uid,
    nextCoachingMessageDue,
    missedWindows: missedWindowsAfter(result.outcome, claim.missedWindows),
    coachingEnabled: user.coachingConfig.enableCoachingMessages,
  });
  await step(deps, "rescheduled", claim, now);
  const suspension =
    stateAfterError?.lastFinishedRun === claim.claimToken
      ? await reapplySuspension(deps, user.uid, stateAfterError, now)
      : await finishRun(deps, {
          uid: user.uid,
          slotId: slot.slotId,
          now,
          state: claim.state,
          log: claim.log,
          ending: result.ending ?? result.outcome,
          messageId: result.messageId,
          failureReason: result.failureReason,
          claimToken: claim.claimToken,
        });
  return {
    slotId: slot.slotId,
    messageGenerated: result.outcome === "sent",
    outcome: result.outcome,
    messageId: result.messageId,
    nextCoachingMessageDue: suspension?.suspendUntil ?? nextCoachingMessageDue,
    failureReason: result.failureReason,
    deliveryEventId: result.messageId ? messageCreatedEventId(slot.slotId) : null,
    superseded: false,
  };
}

/** The suspension a run's end wrote on its state, written to the user document again (idempotent). */
async function reapplySuspension(
  deps: ProcessorDeps,
  uid: string,
  state: ProcessingState,
  now: number,
): Promise<{ suspendUntil: number; suspendReason: string } | null> {
  if (state.status !== "suspended" || state.suspendUntil === null || state.suspendUntil <= now) return null;
  await deps.stateStore.setUserSuspension({ uid, suspendUntil: state.suspendUntil });
  await deps.store.setNextDue({ uid, nextCoachingMessageDue: state.suspendUntil });
  return { suspendUntil: state.suspendUntil, suspendReason: state.suspendReason ?? "suspended" };
}

/**
 * What to do when a claimed run throws (Firestore unavailable, a bug): before a message was
 * approved, the slot fails like a generation error and the user gets the retry interval; after,
 * the lease is released and the user stays due, so the next tick delivers the approved message
 * rather than writing another one. A slot that is completed already is left as it is: when this
 * run completed it (its lease holds this run's token: the completion applied but reported failure,
 * or the throw came after it), the run is finished as the completion would have finished it;
 * otherwise only the reschedule is finished.
 */
export async function recoverFromError({
  deps,
  claim,
  now,
  error,
}: {
  deps: ProcessorDeps;
  claim: ClaimedSlot;
  now: number;
  error: unknown;
}): Promise<ProcessOutcome | null> {
  const current = await deps.store.getSlot(claim.slot.slotId);
  if (current?.status === "completed") {
    // Slots written before they named their writer: the lease of the completion does.
    const ours =
      current.claimToken !== undefined
        ? current.claimToken === claim.claimToken
        : (await deps.store.getLease({ slotId: current.slotId, leaseNumber: current.leaseNumber }))
            ?.claimToken === claim.claimToken;
    if (ours && current.outcome !== null) {
      // The run's end may have applied before the throw (a later write failed): read, not guessed.
      const state = await deps.stateStore.getState(claim.user.uid);
      return afterCompletion(
        deps,
        claim,
        now,
        {
          outcome: current.outcome,
          messageId: current.messageId,
          failureReason: current.failureReason,
          nextCoachingMessageDue: dueAfterOutcome(current, claim.user, now),
        },
        state,
      );
    }
    const snapshot = await deps.store.getUser(claim.user.uid);
    // Only while the user still waits at this slot's due time; anything else was set since.
    if (snapshot?.nextCoachingMessageDue === current.dueAt) {
      await deps.store.setNextDue({
        uid: claim.user.uid,
        nextCoachingMessageDue: dueAfterOutcome(current, claim.user, now),
        missedWindows: missedWindowsAfter(current.outcome, missedWindowsOf(snapshot.dueRank)),
        coachingEnabled: isCoachingEnabled(snapshot),
      });
    }
    return null;
  }
  const approved = await deps.store.getMessage(claim.slot.slotId);
  if (approved) {
    // Released under the next lease number: a no-op ("taken") when another run holds the slot now.
    await deps.store.claimSlot({
      slot: underNextLease(claim.slot, now, { failureReason: describeError(error) }),
      purpose: "release",
      now,
      claimToken: claim.claimToken,
    });
    return null;
  }
  return completeSlot(deps, claim, now, {
    outcome: "generation_failed",
    messageId: null,
    failureReason: `processing failed: ${describeError(error)}`,
    ending: "error",
  });
}
