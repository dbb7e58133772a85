/**
 * The event outbox's pure rules: the event record, the retry policy (exponential backoff with
 * jitter, then dead letters) and claiming an event. No I/O; `now` and randomness are passed in.
 */

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
  /** Handler runs so far, failed or not. */
  attempts: number;
  /** Not picked up before this; pushed out while a worker holds the event, and by backoff after a failure. */
  next_attempt_at: number;
  last_error: string | null;
  processed_at: number | null;
  lease_number: number;
  lease_until: number;
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
  | { kind: "claim"; leaseNumber: number }
  | { kind: "skip"; reason: "processed" | "dead_letter" | "not_ready" | "busy" };

/** Whether a worker may run `event` now; the claim itself is a `create()` of lease `leaseNumber`. */
export function decideEventClaim({
  event,
  now,
  force = false,
}: {
  event: EventRecord;
  now: number;
  /** Run a pending event that is still backing off (process-event on demand). */
  force?: boolean;
}): EventClaimDecision {
  if (event.status === "processed") return { kind: "skip", reason: "processed" };
  if (event.status === "dead_letter") return { kind: "skip", reason: "dead_letter" };
  if (event.lease_until > now) return { kind: "skip", reason: "busy" };
  if (!force && event.next_attempt_at > now) return { kind: "skip", reason: "not_ready" };
  return { kind: "claim", leaseNumber: event.lease_number + 1 };
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
