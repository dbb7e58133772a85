import "server-only";
import { FieldValue, type Firestore } from "firebase-admin/firestore";
import type { DeadLetterRecord, EventRecord } from "@/core/events";
import type { EventStore } from "@/pipeline/event-ports";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";

const TOTALS = "totals";

export function createFirestoreEventStore(db: Firestore): EventStore {
  const events = db.collection(COLLECTIONS.events);
  const leases = db.collection(COLLECTIONS.eventLeases);
  const deadLetters = db.collection(COLLECTIONS.eventDeadLetters);
  const totals = db.collection(COLLECTIONS.eventStats).doc(TOTALS);

  return {
    getEvent: (eventId) =>
      firestoreCall("read event", async () => {
        const snapshot = await events.doc(eventId).get();
        return snapshot.exists ? (snapshot.data() as EventRecord) : null;
      }),

    getReadyEvents: ({ now, limit }) =>
      firestoreCall("read ready events", async () => {
        const snapshot = await events
          .where("status", "==", "pending")
          .where("next_attempt_at", "<=", now)
          .orderBy("next_attempt_at")
          .limit(limit)
          .get();
        return snapshot.docs.map((document) => document.data() as EventRecord);
      }),

    async createLease({ eventId, leaseNumber, now }) {
      const outcome = await createOnce("claim event", () =>
        leases.doc(`${eventId}_${leaseNumber}`).create({ eventId, leaseNumber, claimedAt: now }),
      );
      return outcome === "created";
    },

    updateEvent: (eventId, patch) =>
      firestoreCall("update event", async () => {
        await events.doc(eventId).update(patch);
      }),

    deadLetter: ({ eventId, patch, letter }) =>
      firestoreCall("dead-letter event", async () => {
        const batch = db.batch();
        batch.update(events.doc(eventId), patch);
        batch.set(deadLetters.doc(eventId), letter satisfies DeadLetterRecord);
        await batch.commit();
      }),

    requeue: ({ eventId, now }) =>
      firestoreCall("requeue event", async () => {
        const snapshot = await events.doc(eventId).get();
        if (!snapshot.exists) return false;
        const batch = db.batch();
        batch.update(events.doc(eventId), {
          status: "pending",
          processed: false,
          processed_at: null,
          attempts: 0,
          next_attempt_at: now,
          last_error: null,
          lease_until: 0,
          metadata: { ...(snapshot.get("metadata") ?? {}), replayed_at: now },
        });
        batch.delete(deadLetters.doc(eventId));
        await batch.commit();
        return true;
      }),

    recordRun: ({ success, now }) =>
      firestoreCall("record event run", async () => {
        await totals.set(
          {
            totalProcessed: FieldValue.increment(1),
            successCount: FieldValue.increment(success ? 1 : 0),
            errorCount: FieldValue.increment(success ? 0 : 1),
            lastProcessedAt: now,
          },
          { merge: true },
        );
      }),

    getHealth: () =>
      firestoreCall("read event health", async () => {
        const [stats, deadLetterCount, pendingCount, oldest] = await Promise.all([
          totals.get(),
          deadLetters.count().get(),
          events.where("status", "==", "pending").count().get(),
          events.where("status", "==", "pending").orderBy("created_at").limit(1).get(),
        ]);
        const number = (field: string) => {
          const value = stats.get(field);
          return typeof value === "number" ? value : 0;
        };
        const lastProcessedAt = stats.get("lastProcessedAt");
        return {
          totalProcessed: number("totalProcessed"),
          successCount: number("successCount"),
          errorCount: number("errorCount"),
          deadLetterCount: deadLetterCount.data().count,
          pendingCount: pendingCount.data().count,
          lastProcessedAt: typeof lastProcessedAt === "number" ? lastProcessedAt : null,
          oldestPendingCreatedAt: (oldest.docs[0]?.get("created_at") as number | undefined) ?? null,
        };
      }),
  };
}
