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
  /** When an operator last requeued it (replay, bulk requeue): its retry window starts again there. */
  requeued_at: number | null;
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
  requeued_at: instant.nullable().catch(null),
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

/** The event fields a requeue writes: pending from `now`, a fresh retry window, marked as replayed. */
export function requeuedEventPatch(event: EventRecord, now: number): Partial<EventRecord> {
  return {
    status: "pending",
    processed: false,
    processed_at: null,
    attempts: 0,
    next_attempt_at: now,
    last_error: null,
    lease_until: 0,
    requeued_at: now,
    metadata: { ...event.metadata, replayed_at: now },
  };
}

/**
 * The fields the stray sweep writes on an event the ready query cannot see (`isQueueable` false):
 * its parsed values, with a pending one due at `now`, so the ready query finds it.
 */
export function queueableEventPatch(event: EventRecord, now: number): Partial<EventRecord> {
  return {
    status: event.status,
    processed: event.processed,
    next_attempt_at: event.status === "pending" ? now : event.next_attempt_at,
    attempts: event.attempts,
    lease_number: event.lease_number,
    lease_until: event.lease_until,
    created_at: event.created_at || now,
  };
}

export interface DeadLetterRecord {
  event_id: string;
  event_type: string;
  payload: Record<string, unknown>;
  error_message: string;
  retry_count: number;
  original_created_at: number;
  created_at: number;
  /**
   * Whether a requeue can help: the event failed for a passing reason (retries ran out, runs
   * never finished), not a permanent one (unknown type, invalid payload, a refusal). Absent on
   * letters written by older versions, which the bulk requeue leaves to the one-by-one replay.
   */
  retriable?: boolean;
}

const deadLetterDocumentSchema = z.object({
  event_type: z.string().catch(""),
  payload: z.record(z.string(), z.unknown()).catch({}),
  error_message: z.string().catch(""),
  retry_count: z.number().int().min(0).catch(0),
  original_created_at: instant.catch(0),
  created_at: instant.catch(0),
  retriable: z.boolean().optional().catch(undefined),
});

/** An `eventDeadLetters` document as the engine trusts it: a field of another type is defaulted. */
export function parseDeadLetterDocument(id: string, stored: unknown): DeadLetterRecord {
  return { event_id: id, ...deadLetterDocumentSchema.parse(stored ?? {}) };
}

/**
 * When the outbox gives up on an event. A passing failure (Resend down, a 429) is retried until
 * the event is `maxAgeMs` old, however many attempts that takes: an outage of hours must not
 * turn every email of its window into a dead letter. The attempt cap bounds the rest: runs that
 * never report back (killed), and handlers that want few retries (insights cost LLM calls).
 */
export interface RetryPolicy {
  /** Retries after the first attempt, at most, before the event is dead-lettered, whatever the age. */
  maxRetries: number;
  /** Delay before the first retry, before jitter. */
  baseDelayMs: number;
  /** No delay exceeds this. */
  maxDelayMs: number;
  /** Retriable failures are retried until this long after `retryWindowStart`. */
  maxAgeMs: number;
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
  policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">;
  random: () => number;
}): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

export type FailureDecision =
  | { action: "retry"; nextAttemptAt: number }
  | { action: "dead_letter"; cause: "not_retriable" | "max_attempts" | "max_age" };

/**
 * Where an event's retry window starts: its creation, or its last requeue when later (an
 * operator's requeue gives it a full window again). Null when the event carries no creation time
 * (the app may write one without): then only the attempt cap ends its retries.
 */
export function retryWindowStart(event: Pick<EventRecord, "created_at" | "requeued_at">): number | null {
  const start = Math.max(event.created_at, event.requeued_at ?? 0);
  return start > 0 ? start : null;
}

/**
 * After a failed attempt (`attempts` counts it): retry with backoff, or give up. A retriable
 * failure is retried until `policy.maxAgeMs` after `retrySince` (see `RetryPolicy`), within the
 * attempt cap; the retry after the window's last failure still runs, so the last try is never
 * skipped.
 */
export function decideAfterFailure({
  attempts,
  retriable,
  now,
  retrySince,
  policy,
  random,
}: {
  attempts: number;
  retriable: boolean;
  now: number;
  /** `retryWindowStart` of the event. */
  retrySince: number | null;
  policy: RetryPolicy;
  random: () => number;
}): FailureDecision {
  if (!retriable) return { action: "dead_letter", cause: "not_retriable" };
  if (attempts > policy.maxRetries) return { action: "dead_letter", cause: "max_attempts" };
  if (retrySince !== null && now - retrySince >= policy.maxAgeMs)
    return { action: "dead_letter", cause: "max_age" };
  return { action: "retry", nextAttemptAt: now + retryDelayMs({ retry: attempts, policy, random }) };
}

/**
 * How long a claim keeps an event out of the ready query: the lease, or the retry delay for this
 * attempt when that is longer (and never earlier than a retry time the event already had, for a
 * forced run). A finished run writes its own next time; this one stands only when the run never
 * reports back (killed), so killed runs back off like failed ones instead of repeating every drain.
 */
export function claimHoldUntil({
  now,
  attempts,
  leaseMs,
  nextAttemptAt,
  policy,
  random,
}: {
  now: number;
  /** This claim's attempt number. */
  attempts: number;
  leaseMs: number;
  /** The event's `next_attempt_at` before the claim. */
  nextAttemptAt: number;
  policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">;
  random: () => number;
}): number {
  const backoff = retryDelayMs({ retry: attempts, policy, random });
  return Math.max(nextAttemptAt, now + leaseMs, now + backoff);
}

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
    requeued_at: null,
  };
}

/** The delivery event of a slot's message. */
export function messageCreatedEventId(slotId: string): string {
  return `${EVENT_TYPES.coachingMessageCreated}_${slotId}`;
}
