import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import type { DeadLetterSummary } from "@/core/dead-letter-groups";
import { type EventRecord, parseDeadLetterDocument, parseEventDocument } from "@/core/events";
import { COLLECTIONS } from "../collections";
import { firestoreCall } from "../errors";

/** The events page (`/admin/events`): the outbox's pending events and its dead letters. */
export function createFirestoreEventsPageStore(db: Firestore) {
  const events = db.collection(COLLECTIONS.events);
  const deadLetters = db.collection(COLLECTIONS.eventDeadLetters);
  return {
    pendingEvents: (limit: number) =>
      firestoreCall("list pending events", async () => {
        const snapshot = await events
          .where("status", "==", "pending")
          .orderBy("created_at")
          .limit(limit)
          .get();
        // The app writes events too: parsed as the outbox parses them, so a field of another type
        // is replaced by its default instead of reaching the page.
        return snapshot.docs.map((document): EventRecord => parseEventDocument(document.id, document.data()));
      }),

    deadLetters: (limit: number) =>
      firestoreCall("list dead letters", async () => {
        const snapshot = await deadLetters.orderBy("created_at", "desc").limit(limit).get();
        return snapshot.docs.map((document) => parseDeadLetterDocument(document.id, document.data()));
      }),

    /**
     * The newest `limit` dead letters, only the fields grouping needs (one billed read each;
     * `payload` can be large): what the page groups and a group replay re-groups.
     */
    recentDeadLetterSummaries: (limit: number) =>
      firestoreCall("list dead letters for grouping", async () => {
        const snapshot = await deadLetters
          .orderBy("created_at", "desc")
          .limit(limit)
          .select("event_type", "error_message", "created_at")
          .get();
        return snapshot.docs.map((document): DeadLetterSummary => {
          const letter = parseDeadLetterDocument(document.id, document.data());
          return {
            event_id: letter.event_id,
            event_type: letter.event_type,
            error_message: letter.error_message,
            created_at: letter.created_at,
          };
        });
      }),

    /** All dead letters, counted by an aggregation (one billed read per 1,000). */
    deadLetterCount: () =>
      firestoreCall("count dead letters", async () => (await deadLetters.count().get()).data().count),
  };
}
