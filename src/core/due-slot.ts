/**
 * A due slot is one scheduled message of one user: `${uid}_${dueAt}`. Every side effect of
 * processing a slot is keyed by that id (the lease, the approved message, the journal entry,
 * the email's idempotency key), so running any step twice is harmless and a slot yields at
 * most one message whatever fails or repeats (docs/guarantees.md).
 *
 * Ownership of a slot is a lease taken with `create()` on `${slotId}_${leaseNumber}`: exactly
 * one caller can create a given lease document, so exactly one worker holds lease n. A lease
 * expires so that a worker that died mid-slot does not block it forever; the next run takes
 * lease n + 1 and resumes. This does not rely on transaction isolation, which the emulator
 * lacks and which Firestore only gives with retries.
 *
 * Every write of the slot document (claim, completion, release) goes in one batch with the
 * `create()` of the next lease number, create first. So the slot document moves only forward
 * through lease numbers, and a worker whose lease was taken over cannot write the slot at all:
 * the lease number it would create already exists (the fence). Real Firestore commits a batch
 * atomically; the emulator applies a batch's writes up to a failing one, which with the
 * `create()` first is the same thing here.
 */
import { isInsideWindow, nextWindowTarget } from "./schedule";
import type { UserSnapshot } from "./user";

export function dueSlotId({ uid, dueAt }: { uid: string; dueAt: number }): string {
  return `${uid}_${dueAt}`;
}

export function leaseId({ slotId, leaseNumber }: { slotId: string; leaseNumber: number }): string {
  return `${slotId}_${leaseNumber}`;
}

/**
 * How a slot ended. `gate_failed` and `generation_failed` are the user's run failing (they count
 * towards automatic suspension); `breaker_open`, `quota_exceeded`, `ceiling_reached` (the global
 * LLM_CALLS_PER_MINUTE budget was spent: no call made) and `provider_unavailable` (the
 * LLM provider rate-limited, erred with a 5xx, timed out or was unreachable on the engine's default
 * key; on the user's own key that is `generation_failed`) are deferrals: the user
 * goes without this window's message through no fault of their own (see `isDeferral`).
 */
export type SlotOutcome =
  | "sent"
  | "gate_failed"
  | "generation_failed"
  | "breaker_open"
  | "quota_exceeded"
  | "ceiling_reached"
  | "provider_unavailable";

const DEFERRALS: ReadonlySet<SlotOutcome> = new Set([
  "breaker_open",
  "quota_exceeded",
  "ceiling_reached",
  "provider_unavailable",
]);

/**
 * Whether a slot outcome is a deferral rather than a failure: no message this window, not counted
 * towards suspension, and the user is ranked ahead of those served at their next due time
 * (one more missed window, core/due-rank.ts).
 */
export function isDeferral(outcome: SlotOutcome | null): boolean {
  return outcome !== null && DEFERRALS.has(outcome);
}

/**
 * The most LLM calls one processor run makes: one insights batch before generating, the
 * generation, one regeneration when the draft is too close to a recent message, and the outcome
 * simulation. src/config checks that this many calls at LLM_TIMEOUT_MS each fit in the route's
 * maxDuration.
 */
export const MAX_LLM_CALLS_PER_RUN = 4;

/**
 * The LLM calls a processor run is expected to make, and reserves from the global ceiling once:
 * the generation and the outcome simulation (an insights refresh or a regeneration adds one, now
 * and then). The scheduler dispatches at most the ceiling ÷ this many runs a minute.
 */
export const EXPECTED_LLM_CALLS_PER_RUN = 2;

export interface SlotRecord {
  slotId: string;
  uid: string;
  dueAt: number;
  /** A forced run (test route with bypassChecks) rather than a scheduled one. */
  forced: boolean;
  status: "running" | "completed";
  leaseNumber: number;
  leaseUntil: number;
  outcome: SlotOutcome | null;
  messageId: string | null;
  /** The due time the slot's outcome set, so a re-run after a crash can finish the reschedule. */
  nextCoachingMessageDue: number | null;
  failureReason: string | null;
  createdAt: number;
  updatedAt: number;
  /**
   * The run that wrote the slot last (its claim, a fenced write, or the batch that stored its sent
   * message), so a run whose write applied but reported failure knows it as its own. Absent on
   * slots written before slots carried it.
   */
  claimToken?: string;
}

/** A `coachingSlotLeases` document as the claim reads it back after losing a `create()`. */
export interface LeaseRecord {
  claimedAt: number;
  /** Absent on leases written before claims were one batch: then claimedAt + the lease time. */
  leaseUntil?: number;
  /** The run that created the lease; absent on leases written before runs carried a token. */
  claimToken?: string;
}

export type ClaimDecision =
  | { kind: "completed"; slot: SlotRecord }
  | { kind: "busy"; leaseUntil: number }
  | { kind: "claim"; leaseNumber: number };

/** What a worker may do with a slot in the state it read. */
export function decideClaim({ slot, now }: { slot: SlotRecord | null; now: number }): ClaimDecision {
  if (!slot) return { kind: "claim", leaseNumber: 1 };
  if (slot.status === "completed") return { kind: "completed", slot };
  if (slot.leaseUntil > now) return { kind: "busy", leaseUntil: slot.leaseUntil };
  return { kind: "claim", leaseNumber: slot.leaseNumber + 1 };
}

/**
 * What to do after losing the `create()` of lease `leaseNumber`, from the slot and that lease
 * as read afterwards. A slot at that lease number or later was written by the batch that created
 * the lease (or a later one): decide again on it. A slot still behind it means a claim from an
 * older version created the lease and never wrote the slot (its second write failed, or the
 * process died); that claim is taken over like any other once its lease time has passed, so a
 * half-written claim never answers "busy" forever.
 */
export function decideClaimAfterConflict({
  slot,
  lease,
  leaseNumber,
  now,
  leaseMs,
}: {
  slot: SlotRecord | null;
  lease: LeaseRecord | null;
  leaseNumber: number;
  now: number;
  leaseMs: number;
}): ClaimDecision {
  if (slot && slot.leaseNumber >= leaseNumber) return decideClaim({ slot, now });
  // Deleted between the conflict and the read (retention cleanup): the number is free again.
  if (!lease) return { kind: "claim", leaseNumber };
  const leaseUntil = lease.leaseUntil ?? lease.claimedAt + leaseMs;
  if (leaseUntil > now) return { kind: "busy", leaseUntil };
  return { kind: "claim", leaseNumber: leaseNumber + 1 };
}

export type SkipReason = "disabled" | "invalid_document" | "suspended" | "not_due" | "outside_window";

export type ProcessingDecision =
  | { action: "process"; dueAt: number; forced: boolean }
  | { action: "skip"; reason: SkipReason; nextCoachingMessageDue?: number };

/**
 * Whether the processor may work on this user now. The scheduler already checked, but the user
 * may have changed since (or the caller is not the scheduler), so the processor re-checks:
 * enabled, not suspended, due, inside the window. `bypassChecks` (the test route) skips the
 * due, window and suspension checks and forces a slot at `now` when the user is not due;
 * a disabled user is never processed.
 *
 * An open slot that already holds an approved message is resumed first, inside the window or
 * not and whatever the due time says now: the message exists, and only completing its slot
 * puts it in the journal and sends it; generating anything new before would give the user two.
 */
export function decideProcessing({
  snapshot,
  now,
  bypassChecks = false,
  openSlot,
}: {
  snapshot: UserSnapshot;
  now: number;
  bypassChecks?: boolean;
  /** The user's oldest running slot that holds an approved message, if any. */
  openSlot?: Pick<SlotRecord, "dueAt" | "forced">;
}): ProcessingDecision {
  if (!snapshot.valid) {
    return { action: "skip", reason: snapshot.enabled ? "invalid_document" : "disabled" };
  }
  const { user } = snapshot;
  if (!user.coachingConfig.enableCoachingMessages) return { action: "skip", reason: "disabled" };
  const suspended = typeof user.suspendUntil === "number" && user.suspendUntil > now;
  if (openSlot && (bypassChecks || !suspended)) {
    return { action: "process", dueAt: openSlot.dueAt, forced: openSlot.forced };
  }
  const due = snapshot.nextCoachingMessageDue;
  const isDue = typeof due === "number" && due <= now;
  if (bypassChecks) return { action: "process", dueAt: isDue ? due : now, forced: !isDue };
  if (suspended) return { action: "skip", reason: "suspended" };
  if (!isDue) return { action: "skip", reason: "not_due" };
  const { timezone, coachingConfig } = user;
  if (!isInsideWindow({ at: now, timezone, timePreference: coachingConfig.timePreference })) {
    return {
      action: "skip",
      reason: "outside_window",
      nextCoachingMessageDue: nextWindowTarget({
        now,
        timezone,
        timePreference: coachingConfig.timePreference,
      }),
    };
  }
  return { action: "process", dueAt: due, forced: false };
}
