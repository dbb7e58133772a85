import type { DeadLetterRecord, EventRecord } from "@/core/events";

/** Where a page of the ready query ended: keyset paging on (`next_attempt_at`, id). */
export interface ReadyCursor {
  nextAttemptAt: number;
  eventId: string;
}

/** A claim of an event: the lease document, and the event moved onto it, in one atomic write. */
export interface EventClaim {
  eventId: string;
  leaseNumber: number;
  now: number;
  /** The lease's end; stored on the lease document too, so a takeover can tell a live lease from a dead one. */
  leaseUntil: number;
  /** The event's attempts including this claim (counted when claimed, not when the handler returns). */
  attempts: number;
  /** Pushed to at least `leaseUntil`, so the ready query skips the event while it is held. */
  nextAttemptAt: number;
  /** Unique per claim, stored on the lease: after a claim that failed ambiguously, it tells whether ours applied. */
  claimToken: string;
}

export interface EventLease {
  claimedAt: number;
  /** Absent on leases written by older versions: their end is `claimedAt` + the lease length. */
  leaseUntil: number | null;
  claimToken: string | null;
}

/**
 * The outbox's storage. Events are read through a schema with defaults: the fields the engine
 * owns (`status`, `processed`, `attempts`, `next_attempt_at`, `lease_number`, `lease_until`) are
 * never trusted as written by someone else; out-of-range or missing values take their defaults.
 */
export interface EventStore {
  getEvent(eventId: string): Promise<EventRecord | null>;
  /** Pending events whose `next_attempt_at <= now`, oldest ready first, after `after` when given. */
  getReadyEvents(query: { now: number; limit: number; after?: ReadyCursor }): Promise<EventRecord[]>;
  /**
   * Claims the event: `create()` of lease `leaseNumber` first, then the event update, in one batch
   * (atomic on Firestore). False when the lease already exists (another worker, or a claim an
   * older version only half wrote); throws when the write failed or may have applied.
   */
  claimEvent(claim: EventClaim): Promise<boolean>;
  /** Lease `leaseNumber` of the event, when it exists. */
  getLease(input: { eventId: string; leaseNumber: number }): Promise<EventLease | null>;
  updateEvent(eventId: string, patch: Partial<EventRecord>): Promise<void>;
  /**
   * Marks the event dead-lettered and writes its dead letter, in one batch. The event's retention
   * counts from `letter.original_created_at`, or `patch.requeued_at` when later.
   */
  deadLetter(input: {
    eventId: string;
    patch: Partial<EventRecord>;
    letter: DeadLetterRecord;
  }): Promise<void>;
  /**
   * Puts an event back in the queue as new (attempts 0, `requeued_at` now, so its retry window
   * starts again) and removes its dead letter; false when there is no such event (its dead
   * letter, an orphan, is then removed too, so it cannot block bulk requeues).
   */
  requeue(input: { eventId: string; now: number }): Promise<boolean>;
  /** Ids of up to `limit` dead letters marked `retriable` (what a bulk requeue takes). */
  listRetriableDeadLetters(input: { limit: number }): Promise<string[]>;
  countRetriableDeadLetters(): Promise<number>;
  /**
   * The next `limit` events of a slow sweep over the whole collection (a stored cursor, by id):
   * events the ready query can never see (written without a valid `status` or
   * `next_attempt_at`) get the defaults written, so they are queued. Returns what it looked at.
   */
  queueStrayEvents(input: { now: number; limit: number }): Promise<{ examined: number; queued: number }>;
  /** Counts a finished run in the totals the health route shows (best effort: callers log a failure). */
  recordRun(input: { success: boolean; now: number }): Promise<void>;
  getHealth(input: { now: number }): Promise<EventHealth>;
}

export interface EventHealth {
  totalProcessed: number;
  successCount: number;
  errorCount: number;
  deadLetterCount: number;
  pendingCount: number;
  lastProcessedAt: number | null;
  /**
   * Since when the oldest ready pending event (`next_attempt_at <= now`) has waited: its ready
   * time, not its creation, so a retry waiting out its backoff or a fresh replay of an old event
   * is no backlog. Null: none ready.
   */
  oldestReadyAt: number | null;
}

export type HandlerResult =
  | { ok: true; detail?: string }
  | {
      ok: false;
      retriable: boolean;
      reason: string;
      /**
       * Not an attempt: the handler was refused a shared budget before doing anything (the global
       * LLM ceiling). The event is due again at this time and the attempt it was claimed with is
       * given back, so however long the budget stays spent it is never dead-lettered for it.
       */
      deferUntil?: number;
    };
