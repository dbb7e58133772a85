import "server-only";
import { FieldPath, FieldValue, type Firestore, Timestamp } from "firebase-admin/firestore";
import { claimedEventPatch } from "@/core/event-claim";
import {
  type DeadLetterRecord,
  type EventRecord,
  isQueueable,
  parseEventDocument,
  queueableEventPatch,
  requeuedEventPatch,
} from "@/core/events";
import { retentionExpiry, TTL_FIELD, ttlRetentionRule } from "@/core/retention";
import type { EventStore } from "@/pipeline/event-ports";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";
import { commitBatch } from "./traced-commit";

/** `eventStats/totals`: the single totals document of older versions, still summed in. */
const LEGACY_TOTALS = "totals";
/**
 * Run totals are spread over `eventStats/totals_${k}`, one picked at random per run: one document
 * takes about one sustained write a second, and runs come at the message rate (hundreds a second
 * at peak). The health route sums the shards (a read of each).
 */
export const EVENT_STATS_SHARDS = 64;
/** `eventStats/straySweep`: where the sweep for events the ready query cannot see stopped. */
const STRAY_SWEEP = "straySweep";
/** gRPC FAILED_PRECONDITION: the document changed since the sweep read it. */
const FAILED_PRECONDITION = 9;

// The TTL field (core/retention.ts) goes on every lease, and on an event only by the write that
// makes it deletable (processed, dead-lettered); any write that makes it pending again removes it.
const LEASE_RETENTION = ttlRetentionRule("eventLeases");
const PROCESSED_RETENTION = ttlRetentionRule("processedEvents");
const DEAD_LETTER_RETENTION = ttlRetentionRule("deadLetterEvents");

const expiry = (rule: Parameters<typeof retentionExpiry>[0], from: number) => ({
  [TTL_FIELD]: Timestamp.fromMillis(retentionExpiry(rule, from)),
});
// null, not FieldValue.delete(): a TTL policy skips a document whose field is not a Timestamp,
// and the emulator ignores a field delete in update().
const NOT_EXPIRING = { [TTL_FIELD]: null };

/** The TTL field that goes with an event's status patch. */
function expiryFor(patch: Partial<EventRecord>) {
  if (patch.status === "pending") return NOT_EXPIRING;
  if (patch.status === "processed" && typeof patch.processed_at === "number") {
    return expiry(PROCESSED_RETENTION, patch.processed_at);
  }
  return {};
}

function hasCode(error: unknown, code: number): boolean {
  return typeof error === "object" && error !== null && "code" in error && error.code === code;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

export function createFirestoreEventStore(
  db: Firestore,
  { random = Math.random }: { random?: () => number } = {},
): EventStore {
  const events = db.collection(COLLECTIONS.events);
  const leases = db.collection(COLLECTIONS.eventLeases);
  const deadLetters = db.collection(COLLECTIONS.eventDeadLetters);
  const stats = db.collection(COLLECTIONS.eventStats);
  const totalsDocuments = [
    stats.doc(LEGACY_TOTALS),
    ...Array.from({ length: EVENT_STATS_SHARDS }, (_, shard) => stats.doc(`totals_${shard}`)),
  ];

  return {
    getEvent: (eventId) =>
      firestoreCall("read event", async () => {
        const snapshot = await events.doc(eventId).get();
        return snapshot.exists ? parseEventDocument(eventId, snapshot.data()) : null;
      }),

    getReadyEvents: ({ now, limit, after }) =>
      firestoreCall("read ready events", async () => {
        // The id breaks ties between equal ready times, so a page after `after` skips nothing.
        // The keyset is written as filters, not a query cursor (`startAfter`): the emulator
        // ignores cursors, and filters run the same on both. Past `after`: the rest of its
        // ready time by id, then the later ready times.
        const pending = events.where("status", "==", "pending");
        const documents = [];
        if (after) {
          if (after.nextAttemptAt > now) return [];
          const sameTime = await pending
            .where("next_attempt_at", "==", after.nextAttemptAt)
            .where(FieldPath.documentId(), ">", events.doc(after.eventId))
            .orderBy(FieldPath.documentId())
            .limit(limit)
            .get();
          documents.push(...sameTime.docs);
        }
        if (documents.length < limit) {
          let later = pending.where("next_attempt_at", "<=", now);
          if (after) later = later.where("next_attempt_at", ">", after.nextAttemptAt);
          const snapshot = await later
            .orderBy("next_attempt_at")
            .orderBy(FieldPath.documentId())
            .limit(limit - documents.length)
            .get();
          documents.push(...snapshot.docs);
        }
        return documents.map((document) => parseEventDocument(document.id, document.data()));
      }),

    async claimEvent({ eventId, leaseNumber, now, leaseUntil, attempts, nextAttemptAt, claimToken }) {
      // One batch, the create() first: on Firestore both writes or neither apply (the emulator
      // applies a batch up to a failing write, and a failing create() then writes nothing).
      const outcome = await createOnce("claim event", () => {
        const batch = db.batch();
        batch.create(leases.doc(`${eventId}_${leaseNumber}`), {
          eventId,
          leaseNumber,
          claimedAt: now,
          leaseUntil,
          claimToken,
          ...expiry(LEASE_RETENTION, now),
        });
        batch.update(events.doc(eventId), {
          ...claimedEventPatch({ leaseNumber, leaseUntil, attempts, nextAttemptAt }),
          ...NOT_EXPIRING,
        });
        return commitBatch(batch, "claim event");
      });
      return outcome === "created";
    },

    getLease: ({ eventId, leaseNumber }) =>
      firestoreCall("read event lease", async () => {
        const snapshot = await leases.doc(`${eventId}_${leaseNumber}`).get();
        if (!snapshot.exists) return null;
        const claimedAt = snapshot.get("claimedAt");
        const leaseUntil = snapshot.get("leaseUntil");
        const claimToken = snapshot.get("claimToken");
        return {
          claimedAt: typeof claimedAt === "number" ? claimedAt : 0,
          leaseUntil: typeof leaseUntil === "number" ? leaseUntil : null,
          claimToken: typeof claimToken === "string" ? claimToken : null,
        };
      }),

    updateEvent: (eventId, patch) =>
      firestoreCall("update event", async () => {
        await events.doc(eventId).update({ ...patch, ...expiryFor(patch) });
      }),

    deadLetter: ({ eventId, patch, letter }) =>
      firestoreCall("dead-letter event", async () => {
        const batch = db.batch();
        // The dead-letter rule counts from the event's creation (the cleanup's `created_at`), or
        // from its requeue: a requeued old event that fails again must not expire at once while
        // its fresh letter is kept (an orphan letter).
        batch.update(events.doc(eventId), {
          ...patch,
          ...expiry(DEAD_LETTER_RETENTION, Math.max(letter.original_created_at, patch.requeued_at ?? 0)),
        });
        batch.set(deadLetters.doc(eventId), letter satisfies DeadLetterRecord);
        await batch.commit();
      }),

    requeue: ({ eventId, now }) =>
      firestoreCall("requeue event", async () => {
        const snapshot = await events.doc(eventId).get();
        if (!snapshot.exists) {
          // Its event is gone (the TTL removed it): nothing to requeue, and a retriable letter
          // left behind would head every bulk requeue's list forever.
          const letter = await deadLetters.doc(eventId).get();
          if (letter.exists) await deadLetters.doc(eventId).delete();
          return false;
        }
        const batch = db.batch();
        batch.update(events.doc(eventId), {
          ...requeuedEventPatch(parseEventDocument(eventId, snapshot.data()), now),
          ...NOT_EXPIRING,
        });
        batch.delete(deadLetters.doc(eventId));
        await batch.commit();
        return true;
      }),

    listRetriableDeadLetters: ({ limit }) =>
      firestoreCall("list retriable dead letters", async () => {
        const page = await deadLetters.where("retriable", "==", true).limit(limit).select().get();
        return page.docs.map((document) => document.id);
      }),

    countRetriableDeadLetters: () =>
      firestoreCall("count retriable dead letters", async () => {
        const counted = await deadLetters.where("retriable", "==", true).count().get();
        return counted.data().count;
      }),

    queueStrayEvents: ({ now, limit }) =>
      firestoreCall("sweep stray events", async () => {
        const cursorDocument = db.collection(COLLECTIONS.eventStats).doc(STRAY_SWEEP);
        const afterId = (await cursorDocument.get()).get("afterId");
        // A filter, not `startAfter`: the emulator ignores query cursors.
        let query = events.orderBy(FieldPath.documentId()).limit(limit);
        if (typeof afterId === "string")
          query = query.where(FieldPath.documentId(), ">", events.doc(afterId));
        const page = await query.get();
        const strays = page.docs.filter((document) => !isQueueable(document.data()));
        await Promise.all(
          strays.map(async (document) => {
            const event = parseEventDocument(document.id, document.data());
            try {
              // Only if untouched since read: a worker that claimed it meanwhile has written a status.
              await document.ref.update(queueableEventPatch(event, now), {
                lastUpdateTime: document.updateTime,
              });
            } catch (error) {
              if (!hasCode(error, FAILED_PRECONDITION)) throw error;
            }
          }),
        );
        // A short page is the end of the collection: the next sweep starts over.
        const last = page.docs.at(-1);
        await cursorDocument.set({
          afterId: page.size === limit && last ? last.id : null,
          updatedAt: now,
        });
        return { examined: page.size, queued: strays.length };
      }),

    recordRun: ({ success, now }) =>
      firestoreCall("record event run", async () => {
        const shard = Math.min(EVENT_STATS_SHARDS - 1, Math.floor(random() * EVENT_STATS_SHARDS));
        await stats.doc(`totals_${shard}`).set(
          {
            totalProcessed: FieldValue.increment(1),
            successCount: FieldValue.increment(success ? 1 : 0),
            errorCount: FieldValue.increment(success ? 0 : 1),
            lastProcessedAt: now,
          },
          { merge: true },
        );
      }),

    getHealth: ({ now }) =>
      firestoreCall("read event health", async () => {
        const [totals, deadLetterCount, pendingCount, oldest] = await Promise.all([
          db.getAll(...totalsDocuments),
          deadLetters.count().get(),
          events.where("status", "==", "pending").count().get(),
          // The ready query's own shape (as the outbox_backlog alert reads it): the range on
          // next_attempt_at keeps numbers only (Firestore orders values by type), and measures
          // from the ready time, not the creation, so a retry's backoff or a replay is no backlog.
          events
            .where("status", "==", "pending")
            .where("next_attempt_at", "<=", now)
            .orderBy("next_attempt_at")
            .limit(1)
            .select("next_attempt_at")
            .get(),
        ]);
        const sum = (field: string) =>
          totals.reduce((total, document) => {
            const value = document.get(field);
            return total + (typeof value === "number" ? value : 0);
          }, 0);
        const lastTimes = totals
          .map((document) => document.get("lastProcessedAt"))
          .filter((value): value is number => typeof value === "number");
        return {
          totalProcessed: sum("totalProcessed"),
          successCount: sum("successCount"),
          errorCount: sum("errorCount"),
          deadLetterCount: deadLetterCount.data().count,
          pendingCount: pendingCount.data().count,
          lastProcessedAt: lastTimes.length > 0 ? Math.max(...lastTimes) : null,
          oldestReadyAt: numberOrNull(oldest.docs[0]?.get("next_attempt_at")),
        };
      }),
  };
}
