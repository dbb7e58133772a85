/**
 * A due slot is one scheduled message of one user: `${uid}_${dueAt}`. Every side effect of
 * processing a slot is keyed by that id (the lease, the approved message, the journal entry,
 * the email's idempotency key), so running any step twice is harmless and a slot yields at
 * most one message whatever fails or repeats (contract §7).
 *
 * Ownership of a slot is a lease taken with `create()` on `${slotId}_${leaseNumber}`: exactly
 * one caller can create a given lease document, so exactly one worker holds lease n. A lease
 * expires so that a worker that died mid-slot does not block it forever; the next run takes
 * lease n + 1 and resumes. This does not rely on transaction isolation, which the emulator
 * lacks and which Firestore only gives with retries.
 */
import { isInsideWindow, nextWindowTarget } from "./schedule";
import type { UserSnapshot } from "./user";

export function dueSlotId({ uid, dueAt }: { uid: string; dueAt: number }): string {
  return `${uid}_${dueAt}`;
}

export function leaseId({ slotId, leaseNumber }: { slotId: string; leaseNumber: number }): string {
  return `${slotId}_${leaseNumber}`;
}

export type SlotOutcome = "sent" | "gate_failed" | "generation_failed" | "breaker_open" | "quota_exceeded";

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
 */
export function decideProcessing({
  snapshot,
  now,
  bypassChecks = false,
}: {
  snapshot: UserSnapshot;
  now: number;
  bypassChecks?: boolean;
}): ProcessingDecision {
  if (!snapshot.valid) {
    return { action: "skip", reason: snapshot.enabled ? "invalid_document" : "disabled" };
  }
  const { user } = snapshot;
  if (!user.coachingConfig.enableCoachingMessages) return { action: "skip", reason: "disabled" };
  const due = snapshot.nextCoachingMessageDue;
  const isDue = typeof due === "number" && due <= now;
  if (bypassChecks) return { action: "process", dueAt: isDue ? due : now, forced: !isDue };
  if (typeof user.suspendUntil === "number" && user.suspendUntil > now) {
    return { action: "skip", reason: "suspended" };
  }
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
