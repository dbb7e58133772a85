/**
 * The event outbox's records, pure: an event and its dead letter as the engine trusts them, a new
 * event, and the fields a requeue or the stray sweep writes. The retry policy is in
 * `event-retry.ts`, claiming in `event-claim.ts`. No I/O; `now` is passed in.
 */
import { z } from "zod";

export const EVENT_TYPES = {
  coachingMessageCreated: "coaching.message.created",
  userCoachingEnabled: "user.coaching.enabled",
  journalEntryCreated: "journal.entry.created",
  /** Posts an alert that fired or resolved to ALERT_WEBHOOK_URL (core/alerts.ts). */
  alertNotification: "alert.notification",
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
