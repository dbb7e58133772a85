/**
 * Accepting a user's run: the re-checks and the fenced claim of the due slot. A slot of the user's
 * that is running already is found by the claim itself (its `create()` fails, and the slot is read
 * back: a run in progress, one to take over, or a completed one); slots whose runs died and whose
 * users moved on are closed by the scheduler's sweep (pipeline/close-stale-slots.ts), not here.
 */
import { randomUUID } from "node:crypto";
import { missedWindowsOf } from "@/core/due-rank";
import {
  type ClaimDecision,
  decideClaim,
  decideClaimAfterConflict,
  decideProcessing,
  dueSlotId,
  type SlotRecord,
} from "@/core/due-slot";
import { isCoachingEnabled } from "@/core/user";
import { logPhase, newRunLog, recordDuplicate, startRun } from "../processing-log";
import {
  type AcceptResult,
  type ClaimedSlot,
  dueAfterOutcome,
  missedWindowsAfter,
  step,
  type UserRunRequest,
  underNextLease,
} from "./run";

/** Lost claims to read back and retry before answering "busy" (each loss means progress by another run). */
const MAX_CLAIM_ATTEMPTS = 3;

/**
 * Re-checks the user and claims their due slot. Fast (a few reads and one batched `create()`),
 * so the route can answer before generation starts.
 */
export async function acceptUserRun({
  deps,
  uid,
  now,
  bypassChecks = false,
}: UserRunRequest): Promise<AcceptResult> {
  const { store } = deps;
  const claimToken = randomUUID();
  const snapshot = await store.getUser(uid);
  if (!snapshot) return { kind: "not_found" };
  const enabled = snapshot.valid && isCoachingEnabled(snapshot);
  // For a run that goes ahead, the state is read once here and kept for the claim's start and the
  // run's end. The open slots are reviewed even when the user has no state: a missing state does
  // not prove there is no slot holding a message (data from before the processing state, a state
  // deleted by hand, an admin clear racing a run), and resuming such a message is what keeps a
  // slot to one message.
  const goesAhead = enabled && decideProcessing({ snapshot, now, bypassChecks }).action === "process";
  const stateRead = goesAhead ? { state: await deps.stateStore.getState(uid) } : undefined;
  const decision = decideProcessing({ snapshot, now, bypassChecks });
  if (decision.action === "skip") {
    if (decision.nextCoachingMessageDue !== undefined) {
      // Moved on without a message: one more missed window puts the user earlier in the next one.
      await store.setNextDue({
        uid,
        nextCoachingMessageDue: decision.nextCoachingMessageDue,
        missedWindows: decision.reason === "outside_window" ? missedWindowsOf(snapshot.dueRank) + 1 : 0,
        coachingEnabled: isCoachingEnabled(snapshot),
      });
    }
    return {
      kind: "skipped",
      reason: decision.reason,
      nextCoachingMessageDue: decision.nextCoachingMessageDue,
    };
  }
  if (!snapshot.valid) return { kind: "skipped", reason: "invalid_document" };
  const user = snapshot.user;
  const slotId = dueSlotId({ uid, dueAt: decision.dueAt });
  // The claim tries the first lease without reading the slot: one that exists already (a run in
  // progress or dead, or a completed slot on a rare duplicate call) is found by the conflict's
  // read-back below.
  let existing: SlotRecord | null = null;
  let claim: ClaimDecision = decideClaim({ slot: existing, now });
  let slot: SlotRecord;
  for (let attempt = 1; ; attempt += 1) {
    if (claim.kind === "busy") {
      await recordDuplicate(deps, { uid, now, reason: `slot ${slotId} is being processed` });
      return { kind: "busy", slotId };
    }
    if (claim.kind === "completed") {
      await recordDuplicate(deps, { uid, now, reason: `slot ${slotId} was already processed` });
      // The run that completed the slot may have died before rescheduling the user.
      if (snapshot.nextCoachingMessageDue === claim.slot.dueAt) {
        await store.setNextDue({
          uid,
          nextCoachingMessageDue: dueAfterOutcome(claim.slot, user, now),
          missedWindows: missedWindowsAfter(claim.slot.outcome, missedWindowsOf(snapshot.dueRank)),
          coachingEnabled: user.coachingConfig.enableCoachingMessages,
        });
      }
      return { kind: "already_completed", slotId, outcome: claim.slot.outcome };
    }
    const candidate: SlotRecord = {
      slotId,
      uid,
      dueAt: decision.dueAt,
      forced: decision.forced,
      status: "running",
      leaseNumber: claim.leaseNumber,
      leaseUntil: now + deps.leaseMs,
      outcome: null,
      messageId: null,
      nextCoachingMessageDue: null,
      failureReason: null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    // One batch: the lease create() and the slot write commit together or not at all.
    if ((await store.claimSlot({ slot: candidate, purpose: "claim", now, claimToken })) === "claimed") {
      slot = candidate;
      break;
    }
    if (attempt === MAX_CLAIM_ATTEMPTS) {
      await recordDuplicate(deps, { uid, now, reason: `slot ${slotId} was claimed by another run` });
      return { kind: "busy", slotId };
    }
    // Lost the lease: read back what won it (a live run, or a claim an older version left half-written).
    const lost = claim.leaseNumber;
    const [current, lease] = await Promise.all([
      store.getSlot(slotId),
      store.getLease({ slotId, leaseNumber: lost }),
    ]);
    existing = current;
    claim = decideClaimAfterConflict({ slot: current, lease, leaseNumber: lost, now, leaseMs: deps.leaseMs });
  }
  // The run counts from its claim, so runs that are always killed still reach the failure limit;
  // at the limit the user is suspended here, before any LLM call, and the slot is closed with it.
  const started = await startRun(deps, {
    uid,
    slotId,
    now,
    // A slot taken over may hold a message an older version stored approved: the run only
    // delivers it, so no suspension stops it (a first lease has nothing under it).
    resumesApprovedMessage: slot.leaseNumber > 1 && (await store.getMessage(slotId)) !== null,
    stateRead,
  });
  const { suspension } = started;
  if (suspension) {
    await store.claimSlot({
      slot: underNextLease(slot, now, {
        status: "completed",
        outcome: "generation_failed",
        nextCoachingMessageDue: suspension.suspendUntil,
        failureReason: `suspended: ${suspension.suspendReason}`,
      }),
      purpose: "complete",
      now,
      claimToken,
    });
    return { kind: "skipped", reason: "suspended", nextCoachingMessageDue: suspension.suspendUntil };
  }
  const claimed: ClaimedSlot = {
    slot,
    user,
    claimToken,
    missedWindows: missedWindowsOf(snapshot.dueRank),
    firstLease: slot.leaseNumber === 1,
    state: started.state,
    log: newRunLog(),
  };
  logPhase(claimed.log, "building_context");
  await step(deps, "claimed", claimed, now);
  return { kind: "claimed", claim: claimed };
}
