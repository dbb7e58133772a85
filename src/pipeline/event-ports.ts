import type { DeadLetterRecord, EventRecord } from "@/core/events";

export interface EventStore {
  getEvent(eventId: string): Promise<EventRecord | null>;
  /** Pending events whose `next_attempt_at <= now`, oldest ready first. */
  getReadyEvents(query: { now: number; limit: number }): Promise<EventRecord[]>;
  /** Creates lease `leaseNumber` of the event; false when another worker created it first. */
  createLease(input: { eventId: string; leaseNumber: number; now: number }): Promise<boolean>;
  updateEvent(eventId: string, patch: Partial<EventRecord>): Promise<void>;
  /** Marks the event dead-lettered and writes its dead letter, in one batch. */
  deadLetter(input: {
    eventId: string;
    patch: Partial<EventRecord>;
    letter: DeadLetterRecord;
  }): Promise<void>;
  /** Puts an event back in the queue as new and removes its dead letter; false when there is no such event. */
  requeue(input: { eventId: string; now: number }): Promise<boolean>;
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
  oldestPendingCreatedAt: number | null;
}

export type HandlerResult = { ok: true; detail?: string } | { ok: false; retriable: boolean; reason: string };

/** The step boundaries inside a handler, for logs and crash tests. */
export type HandlerStep = "email_requested";
