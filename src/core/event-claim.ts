/**
 * Claiming an outbox event, pure: whether a worker may run it now, and the fields the claim writes.
 */
import type { EventRecord } from "./events";

/**
 * The longest event id the engine runs, in UTF-8 bytes. Leases are `${eventId}_${n}` with n up to
 * MAX_SAFE_INTEGER (16 digits), and Firestore refuses document ids over 1,500 bytes: with ids
 * capped here every lease id fits, with room for another suffix.
 */
export const MAX_EVENT_ID_BYTES = 1_024;

/** Whether the engine can claim leases for an event with this id. */
export function isRunnableEventId(eventId: string): boolean {
  return new TextEncoder().encode(eventId).length <= MAX_EVENT_ID_BYTES;
}

export type EventClaimDecision =
  /** Claim lease `leaseNumber` and run the handler; `attempts` (this run included) goes into the claim write. */
  | { kind: "claim"; leaseNumber: number; attempts: number }
  /**
   * Claim lease `leaseNumber` and dead-letter without running: the attempts so far already
   * exceed the retries, and the last one never reported back (killed, timed out).
   */
  | { kind: "give_up"; leaseNumber: number; attempts: number; reason: string }
  /**
   * Dead-letter without a lease: the id is too long for one (the app wrote it), so every claim
   * would fail, and the event would stay at the head of the ready query for good.
   */
  | { kind: "reject"; attempts: number; reason: string }
  | { kind: "skip"; reason: "processed" | "dead_letter" | "not_ready" | "busy" };

/**
 * Whether a worker may run `event` now. The claim itself is one atomic write (the `create()` of
 * lease `leaseNumber` and the event update), and it counts the attempt: a handler killed
 * mid-run has used its attempt, so a handler that always dies still reaches dead letters.
 */
export function decideEventClaim({
  event,
  now,
  maxRetries,
  leaseMs,
  force = false,
}: {
  event: EventRecord;
  now: number;
  /** Retries after the first attempt before dead letters (the handler's own, or the policy's). */
  maxRetries: number;
  /** The lease length: a `lease_until` further away than one lease from now was not written by a claim. */
  leaseMs: number;
  /** Run a pending event that is still backing off (process-event on demand). */
  force?: boolean;
}): EventClaimDecision {
  if (event.status === "processed") return { kind: "skip", reason: "processed" };
  if (event.status === "dead_letter") return { kind: "skip", reason: "dead_letter" };
  if (!isRunnableEventId(event.id)) {
    return {
      kind: "reject",
      attempts: event.attempts,
      reason: `event id longer than ${MAX_EVENT_ID_BYTES} bytes: too long to claim (lease ids would pass Firestore's limit)`,
    };
  }
  if (event.lease_until > now && event.lease_until <= now + leaseMs) return { kind: "skip", reason: "busy" };
  if (!force && event.next_attempt_at > now) return { kind: "skip", reason: "not_ready" };
  const leaseNumber = event.lease_number + 1;
  if (event.attempts > maxRetries) {
    return {
      kind: "give_up",
      leaseNumber,
      attempts: event.attempts,
      reason:
        `gave up after ${event.attempts} attempts; the last run did not finish (killed or timed out)${event.last_error ? `; last error: ${event.last_error}` : ""}`.slice(
          0,
          500,
        ),
    };
  }
  return { kind: "claim", leaseNumber, attempts: event.attempts + 1 };
}

/**
 * The event fields a claim writes (with the lease, in one atomic step): pending, held by lease
 * `leaseNumber` until `leaseUntil`, with the attempt it counts and when a retry may run.
 */
export function claimedEventPatch({
  leaseNumber,
  leaseUntil,
  attempts,
  nextAttemptAt,
}: {
  leaseNumber: number;
  leaseUntil: number;
  attempts: number;
  nextAttemptAt: number;
}): Partial<EventRecord> {
  return {
    status: "pending",
    processed: false,
    lease_number: leaseNumber,
    lease_until: leaseUntil,
    next_attempt_at: nextAttemptAt,
    attempts,
  };
}
