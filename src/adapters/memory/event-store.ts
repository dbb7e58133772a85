/**
 * An in-memory twin of the Firestore event store (adapters/firestore/event-store.ts), over the
 * same `events` map the in-memory processor store writes delivery events into. It keeps the
 * Firestore semantics the outbox relies on: a claim is one atomic step (the lease `create()` and
 * the event update: both or neither; a second create of one lease reports a conflict), `update()`
 * of a missing event fails, documents are read through `parseEventDocument` (events written by
 * the app may lack fields), the ready query sees only documents whose `status` is "pending" and
 * whose `next_attempt_at` is a number at or before `now`, ordered by (`next_attempt_at`, id), and
 * the stray sweep walks the collection by id with a stored cursor. (The run totals are one object
 * here; Firestore spreads them over shard documents and sums them, with the same result.) It passes the same contract
 * tests as the Firestore store (test/adapters/event-store.contract.ts).
 */
import { claimedEventPatch } from "@/core/event-claim";
import {
  type DeadLetterRecord,
  type EventRecord,
  isQueueable,
  parseEventDocument,
  queueableEventPatch,
  requeuedEventPatch,
} from "@/core/events";
import type { EventLease, EventStore } from "@/pipeline/event-ports";

export interface InMemoryOutboxData {
  /** Lease documents by `${eventId}_${leaseNumber}`. */
  leases: Map<
    string,
    { eventId: string; leaseNumber: number; claimedAt: number; leaseUntil: number; claimToken: string }
  >;
  deadLetters: Map<string, DeadLetterRecord>;
  totals: {
    totalProcessed: number;
    successCount: number;
    errorCount: number;
    lastProcessedAt: number | null;
  };
  /** `eventStats/straySweep`: the last id the sweep for unqueueable events looked at. */
  straySweepAfterId: string | null;
}

export function createInMemoryOutboxData(): InMemoryOutboxData {
  return {
    leases: new Map(),
    deadLetters: new Map(),
    totals: { totalProcessed: 0, successCount: 0, errorCount: 0, lastProcessedAt: null },
    straySweepAfterId: null,
  };
}

function notFound(eventId: string): Error {
  return new Error(`NOT_FOUND: no event ${eventId} to update`);
}

/**
 * `events` holds documents as written: the engine's own are whole `EventRecord`s, the app's may
 * lack fields or carry other types, so every read goes through `parseEventDocument`.
 */
export function createInMemoryEventStore(
  events: Map<string, EventRecord>,
  outbox: InMemoryOutboxData,
): EventStore {
  const raw = (event: EventRecord) => event as unknown as Record<string, unknown>;
  const update = (eventId: string, patch: Partial<EventRecord>) => {
    const event = events.get(eventId);
    if (!event) throw notFound(eventId);
    events.set(eventId, { ...event, ...structuredClone(patch) });
  };
  const readyAt = (event: EventRecord): number | null => {
    const stored = raw(event);
    const at = stored.next_attempt_at;
    return stored.status === "pending" && typeof at === "number" ? at : null;
  };
  return {
    async getEvent(eventId) {
      const event = events.get(eventId);
      return event ? parseEventDocument(eventId, structuredClone(event)) : null;
    },

    async getReadyEvents({ now, limit, after }) {
      const ready: { at: number; id: string }[] = [];
      for (const [id, event] of events) {
        const at = readyAt(event);
        if (at === null || at > now) continue;
        if (after && (at < after.nextAttemptAt || (at === after.nextAttemptAt && id <= after.eventId)))
          continue;
        ready.push({ at, id });
      }
      ready.sort((first, second) => first.at - second.at || (first.id < second.id ? -1 : 1));
      return ready.slice(0, limit).map(({ id }) => parseEventDocument(id, structuredClone(events.get(id))));
    },

    async claimEvent({ eventId, leaseNumber, now, leaseUntil, attempts, nextAttemptAt, claimToken }) {
      // One batch, the create() first: both writes apply or neither.
      const id = `${eventId}_${leaseNumber}`;
      if (outbox.leases.has(id)) return false;
      if (!events.has(eventId)) throw notFound(eventId);
      outbox.leases.set(id, { eventId, leaseNumber, claimedAt: now, leaseUntil, claimToken });
      update(eventId, claimedEventPatch({ leaseNumber, leaseUntil, attempts, nextAttemptAt }));
      return true;
    },

    async getLease({ eventId, leaseNumber }): Promise<EventLease | null> {
      const lease = outbox.leases.get(`${eventId}_${leaseNumber}`);
      if (!lease) return null;
      return { claimedAt: lease.claimedAt, leaseUntil: lease.leaseUntil, claimToken: lease.claimToken };
    },

    async updateEvent(eventId, patch) {
      update(eventId, patch);
    },

    async deadLetter({ eventId, patch, letter }) {
      // One batch on Firestore: the update fails on a missing event and then nothing is written.
      update(eventId, patch);
      outbox.deadLetters.set(eventId, structuredClone(letter));
    },

    async requeue({ eventId, now }) {
      const event = events.get(eventId);
      if (!event) {
        // As on Firestore: a letter whose event is gone is cleared, not left to block bulk requeues.
        outbox.deadLetters.delete(eventId);
        return false;
      }
      update(eventId, requeuedEventPatch(parseEventDocument(eventId, event), now));
      outbox.deadLetters.delete(eventId);
      return true;
    },

    async listRetriableDeadLetters({ limit }) {
      return [...outbox.deadLetters.values()]
        .filter((letter) => letter.retriable === true)
        .slice(0, limit)
        .map((letter) => letter.event_id);
    },

    async countRetriableDeadLetters() {
      return [...outbox.deadLetters.values()].filter((letter) => letter.retriable === true).length;
    },

    async queueStrayEvents({ now, limit }) {
      const afterId = outbox.straySweepAfterId;
      const page = [...events.keys()]
        .filter((id) => afterId === null || id > afterId)
        .sort()
        .slice(0, limit);
      let queued = 0;
      for (const id of page) {
        const stored = events.get(id);
        if (!stored || isQueueable(raw(stored))) continue;
        update(id, queueableEventPatch(parseEventDocument(id, stored), now));
        queued += 1;
      }
      // A short page is the end of the collection: the next sweep starts over.
      outbox.straySweepAfterId = page.length === limit ? (page.at(-1) ?? null) : null;
      return { examined: page.length, queued };
    },

    async recordRun({ success, now }) {
      outbox.totals.totalProcessed += 1;
      outbox.totals.successCount += success ? 1 : 0;
      outbox.totals.errorCount += success ? 0 : 1;
      outbox.totals.lastProcessedAt = now;
    },

    async getHealth({ now }) {
      let pendingCount = 0;
      let oldestReadyAt: number | null = null;
      for (const stored of events.values()) {
        const event = raw(stored);
        if (event.status !== "pending") continue;
        pendingCount += 1;
        const readyAt = event.next_attempt_at;
        // As the Firestore query's range on next_attempt_at: numeric times only, ready by now.
        if (typeof readyAt !== "number" || readyAt > now) continue;
        if (oldestReadyAt === null || readyAt < oldestReadyAt) oldestReadyAt = readyAt;
      }
      return {
        ...outbox.totals,
        deadLetterCount: outbox.deadLetters.size,
        pendingCount,
        oldestReadyAt,
      };
    },
  };
}
