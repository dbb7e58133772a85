/**
 * Claiming an outbox event. Two workers never run one event at once: a worker claims it with one
 * atomic write, the `create()` of lease `${eventId}_${n}` (exactly one caller can create it) and
 * the event update that pushes `next_attempt_at` out to the lease's end (so the ready query stops
 * returning it) and counts the attempt. A worker that dies leaves the lease to expire and the
 * event to be retried.
 *
 * Older versions claimed in two writes; a lease they created without the event update (the
 * process died between them) is taken over once that lease has expired.
 */
import { decideEventClaim, type EventClaimDecision } from "@/core/event-claim";
import { claimHoldUntil } from "@/core/event-retry";
import type { EventRecord } from "@/core/events";
import type { EventProcessorDeps } from "./process-event";

/** Claim attempts over leases that turn out to be taken, before answering "busy". */
const MAX_CLAIM_ROUNDS = 3;

/** What claiming an event came to: claimed (run it), rejected (dead-letter it) or skipped. */
export type ClaimOutcome =
  | {
      kind: "claimed";
      event: EventRecord;
      decision: Exclude<EventClaimDecision, { kind: "skip" | "reject" }>;
    }
  /** Not claimable at all (its id is too long for a lease): dead-lettered without one. */
  | { kind: "rejected"; event: EventRecord; decision: Extract<EventClaimDecision, { kind: "reject" }> }
  | { kind: "skipped"; reason: "processed" | "dead_letter" | "not_ready" | "busy" | "not_found" };

/**
 * Reads, decides and claims. When lease n already exists: a live one means another worker holds
 * the event (it is kept out of the ready query until that lease ends); an expired one whose claim
 * never reached the event (an older version's half-written claim) is passed over for n + 1.
 */
export async function claimEvent(
  deps: EventProcessorDeps,
  { eventId, now, force }: { eventId: string; now: number; force: boolean },
): Promise<ClaimOutcome> {
  const { store } = deps;
  let leaseFloor = 0;
  for (let round = 0; round < MAX_CLAIM_ROUNDS; round += 1) {
    const stored = await store.getEvent(eventId);
    if (!stored) return { kind: "skipped", reason: "not_found" };
    const event = { ...stored, lease_number: Math.max(stored.lease_number, leaseFloor) };
    const maxRetries = deps.registry[event.event_type]?.maxRetries ?? deps.policy.maxRetries;
    const decision = decideEventClaim({ event, now, force, maxRetries, leaseMs: deps.leaseMs });
    if (decision.kind === "skip") return { kind: "skipped", reason: decision.reason };
    if (decision.kind === "reject") return { kind: "rejected", event, decision };
    const leaseUntil = now + deps.leaseMs;
    const claimToken = `${now.toString(36)}-${Math.floor(deps.random() * 2 ** 52).toString(36)}`;
    const claimed = await store
      .claimEvent({
        eventId,
        leaseNumber: decision.leaseNumber,
        now,
        leaseUntil,
        attempts: decision.attempts,
        nextAttemptAt: claimHoldUntil({
          now,
          attempts: decision.attempts,
          leaseMs: deps.leaseMs,
          nextAttemptAt: event.next_attempt_at,
          policy: deps.policy,
          random: deps.random,
        }),
        claimToken,
      })
      .catch(async (error: unknown) => {
        // A write that failed may still have applied (a timeout): the lease's token says whose it is.
        const lease = await store.getLease({ eventId, leaseNumber: decision.leaseNumber }).catch(() => null);
        if (lease?.claimToken === claimToken) return true;
        throw error;
      });
    if (claimed) return { kind: "claimed", event, decision };
    const lease = await store.getLease({ eventId, leaseNumber: decision.leaseNumber });
    // "Exists" with our own token: the client retried a commit that had applied (the SDK retries
    // ABORTED/UNAVAILABLE), and its second try met our first. The claim is ours.
    if (lease?.claimToken === claimToken) return { kind: "claimed", event, decision };
    const heldUntil = lease ? (lease.leaseUntil ?? lease.claimedAt + deps.leaseMs) : 0;
    if (heldUntil > now) {
      // An older version's claim (no token) may never have reached the event, leaving it at the
      // head of the ready query: move it to the lease's end so drains pass it by (later only).
      // A claim with a token was one atomic write, so the event already says so.
      if (lease?.claimToken === null && event.next_attempt_at < heldUntil) {
        await store.updateEvent(eventId, { next_attempt_at: heldUntil });
      }
      return { kind: "skipped", reason: "busy" };
    }
    leaseFloor = decision.leaseNumber;
  }
  return { kind: "skipped", reason: "busy" };
}
