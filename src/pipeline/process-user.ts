/**
 * Processing one user's due slot, end to end: claim, context, generation, outcome simulation,
 * quality gate, storage with the delivery event, journal entry, reschedule. Delivery itself
 * (email, push) is the outbox's job (outbox/).
 *
 * It comes in two halves: `acceptUserRun` (re-checks and the claim), which the processor route
 * awaits before it responds, and `runClaimedSlot` (the rest), which it runs after responding.
 * The tests and scripts run both in one call with `processUser` (scripts/support/process-user.ts).
 *
 * Exactly once per slot (docs/guarantees.md) comes from construction, not from transactions:
 * - the slot is owned through a `create()`-claimed lease (see core/due-slot.ts);
 * - the approved message has the slot's id and is created with `create()`, so two workers can
 *   never store two messages for one slot (the loser carries on with the winner's);
 * - it is created sent, first in one batch with its journal entry and its delivery event (email,
 *   push), whose ids are derived from the slot id: a message is emailed only once it is in the
 *   journal, and at most once (a message an older version stored approved is resumed step by
 *   step: the journal entry, then sent with the event);
 * - the slot records its outcome and next due time before the user is rescheduled, so a run
 *   that died between the two finishes the reschedule next time;
 * - every slot write takes the next lease number with `create()` in the same batch, so a run
 *   whose lease expired and was taken over cannot complete or release the slot (the fence).
 * A worker that dies mid-slot leaves the user due at the slot's time; once the lease expires the
 * next run resumes the slot from the last completed step — and a slot holding an approved
 * message is resumed before anything new is generated for that user, inside the window or not.
 */
import { acceptUserRun as acceptRun } from "./processor/accept";
import { runClaimedSlot as runSlot } from "./processor/deliver";
import type {
  AcceptResult,
  ClaimedSlot,
  ProcessOutcome,
  ProcessorDeps,
  UserRunRequest,
} from "./processor/run";
import { inSpan } from "./tracing";

export { CEILING_JITTER_MS, ceilingJitterMs } from "./processor/call-outcome";
export { recoverFromError } from "./processor/complete";
export {
  type AcceptResult,
  type ClaimedSlot,
  coachingJournalEntryId,
  type ProcessOutcome,
  type ProcessorDeps,
  type UserRunRequest,
} from "./processor/run";

/**
 * Re-checks the user and claims their due slot (processor/accept.ts), in a `processor.accept`
 * span: a child of the dispatch's when the scheduler's call carried its trace.
 */
export function acceptUserRun(request: UserRunRequest): Promise<AcceptResult> {
  const fields = { "coaching.component": "processor", "coaching.uid": request.uid };
  return inSpan("processor.accept", fields, async (span) => {
    const accepted = await acceptRun(request);
    span.set({
      "coaching.accept": accepted.kind,
      "coaching.slot_id": accepted.kind === "claimed" ? accepted.claim.slot.slotId : undefined,
    });
    return accepted;
  });
}

/**
 * Runs a claimed slot to completion (processor/deliver.ts) in a `processor.run` span, over the
 * spans of its steps (generate, store, complete) and of its LLM calls.
 */
export function runClaimedSlot(run: {
  deps: ProcessorDeps;
  claim: ClaimedSlot;
  now: number;
}): Promise<ProcessOutcome> {
  const fields = {
    "coaching.component": "processor",
    "coaching.uid": run.claim.user.uid,
    "coaching.slot_id": run.claim.slot.slotId,
  };
  return inSpan("processor.run", fields, async (span) => {
    const outcome = await runSlot(run);
    span.set({
      "coaching.outcome": outcome.outcome,
      "coaching.message_generated": outcome.messageGenerated,
      "coaching.superseded": outcome.superseded,
    });
    return outcome;
  });
}
