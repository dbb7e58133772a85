/**
 * The event outbox's pure rules: the event record, the retry policy (exponential backoff with
 * jitter, then dead letters) and claiming an event. No I/O; `now` and randomness are passed in.
 */
import { z } from "zod";

export const EVENT_TYPES = {
  coachingMessageCreated: "coaching.message.created",
  userCoachingEnabled: "user.coaching.enabled",
  journalEntryCreated: "journal.entry.created",
} as const;

export type EventStatus = "pending" | "processed" | "dead_letter";

/** An `events` document. Field names follow the seed design's outbox (snake_case). */
export interface EventRecord {
  id: string;
  event_type: string;
  aggregate_id: string;
  aggregate_type: string;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  /** True once a handler succeeded. */
  processed: boolean;
  /** Top-level so the ready query can filter on it. */
  status: EventStatus;
  version: number;
  created_at: number;
  created_by: string;
  /** Claims so far (each counted when claimed, so a run that was killed counts too). */
  attempts: number;
  /** Not picked up before this; pushed out while a worker holds the event, and by backoff after a failure. */
  next_attempt_at: number;
  last_error: string | null;
  processed_at: number | null;
  /** The last lease claimed (`eventLeases/${id}_${lease_number}`). */
  lease_number: number;
  /** End of the last claim's lease; also on the lease document, which is the truth. */
  lease_until: number;
}

const statusSchema = z.enum(["pending", "processed", "dead_letter"]);
const instant = z.number().finite().min(0);
/** Above any real retry count; an app-written count outside [0, this] is not a count. */
const MAX_PLAUSIBLE_ATTEMPTS = 1_000;

/**
 * An `events` document as the engine trusts it. The journaling app writes events too, so every
 * field the engine owns is parsed with a default: a missing or malformed `status`, `attempts`
 * (e.g. -5), `lease_number` (not a safe integer), `lease_until` or `next_attempt_at` is replaced,
 * never used (a `lease_until` further than one lease away is also discounted when claiming: see
 * `decideEventClaim`). What the app writes and the engine reads as is: `event_type`, `payload`,
 * `aggregate_*`, `metadata`, `created_*`.
 */
const eventDocumentSchema = z.object({
  event_type: z.string().catch(""),
  aggregate_id: z.string().catch(""),
  aggregate_type: z.string().catch(""),
  payload: z.record(z.string(), z.unknown()).catch({}),
  metadata: z.record(z.string(), z.unknown()).catch({}),
  status: statusSchema.catch("pending"),
  version: z.number().catch(1),
  created_at: instant.catch(0),
  created_by: z.string().catch("unknown"),
  attempts: z.number().int().min(0).max(MAX_PLAUSIBLE_ATTEMPTS).catch(0),
  next_attempt_at: instant.catch(0),
  last_error: z.string().nullable().catch(null),
  processed_at: instant.nullable().catch(null),
  // Below MAX_SAFE_INTEGER so that the next lease number is exact.
  lease_number: z
    .number()
    .int()
    .min(0)
    .max(Number.MAX_SAFE_INTEGER - 1)
    .catch(0),
  lease_until: instant.catch(0),
});

/** The engine's view of a stored event, whoever wrote it (every store parses with this). */
export function parseEventDocument(id: string, stored: unknown): EventRecord {
  const fields = eventDocumentSchema.parse(stored ?? {});
  return { id, ...fields, processed: fields.status === "processed" };
}

/**
 * Whether the ready query (`status == "pending"`, `next_attempt_at <= now`) can see this stored
 * document: Firestore filters skip documents whose field is missing or of another type, so an
 * event written without them is never run until a sweep writes the defaults.
 */
export function isQueueable(stored: Record<string, unknown>): boolean {
  const status = statusSchema.safeParse(stored.status);
  if (!status.success) return false;
  return status.data !== "pending" || instant.safeParse(stored.next_attempt_at).success;
}

export interface DeadLetterRecord {
  event_id: string;
  event_type: string;
  payload: Record<string, unknown>;
  error_message: string;
  retry_count: number;
  original_created_at: number;
  created_at: number;
}

export interface RetryPolicy {
  /** Retries after the first attempt before the event is dead-lettered. */
  maxRetries: number;
  /** Delay before the first retry, before jitter. */
  baseDelayMs: number;
  /** No delay exceeds this. */
  maxDelayMs: number;
}

/**
 * Delay before retry number `retry` (1-based): "equal jitter" around an exponential step, in
 * [step / 2, step] with step = min(max, base · 2^(retry − 1)). Below the cap consecutive ranges
 * touch but never overlap, so delays grow with each retry while the jitter still spreads a burst
 * of failures; at the cap they stay within [max / 2, max].
 */
export function retryDelayMs({
  retry,
  policy,
  random,
}: {
  retry: number;
  policy: RetryPolicy;
  random: () => number;
}): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

export type FailureDecision = { action: "retry"; nextAttemptAt: number } | { action: "dead_letter" };

/** After a failed attempt (`attempts` counts it): retry with backoff, or give up. */
export function decideAfterFailure({
  attempts,
  retriable,
  now,
  policy,
  random,
}: {
  attempts: number;
  retriable: boolean;
  now: number;
  policy: RetryPolicy;
  random: () => number;
}): FailureDecision {
  if (!retriable || attempts > policy.maxRetries) return { action: "dead_letter" };
  return { action: "retry", nextAttemptAt: now + retryDelayMs({ retry: attempts, policy, random }) };
}

export type EventClaimDecision =
  /** Claim lease `leaseNumber` and run the handler; `attempts` (this run included) goes into the claim write. */
  | { kind: "claim"; leaseNumber: number; attempts: number }
  /**
   * Claim lease `leaseNumber` and dead-letter without running: the attempts so far already
   * exceed the retries, and the last one never reported back (killed, timed out).
   */
  | { kind: "give_up"; leaseNumber: number; attempts: number; reason: string }
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

/** A new event, ready at once. Ids are deterministic per fact, so publishing twice is one event. */
export function newEvent({
  id,
  eventType,
  aggregateId,
  aggregateType,
  payload,
  metadata = {},
  createdBy,
  now,
}: {
  id: string;
  eventType: string;
  aggregateId: string;
  aggregateType: string;
  payload: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  createdBy: string;
  now: number;
}): EventRecord {
  return {
    id,
    event_type: eventType,
    aggregate_id: aggregateId,
    aggregate_type: aggregateType,
    payload,
    metadata,
    processed: false,
    status: "pending",
    version: 1,
    created_at: now,
    created_by: createdBy,
    attempts: 0,
    next_attempt_at: now,
    last_error: null,
    processed_at: null,
    lease_number: 0,
    lease_until: 0,
  };
}

/** The delivery event of a slot's message. */
export function messageCreatedEventId(slotId: string): string {
  return `${EVENT_TYPES.coachingMessageCreated}_${slotId}`;
}
