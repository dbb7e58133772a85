import "server-only";
import { FieldValue, type Firestore } from "firebase-admin/firestore";
import { STORED_STATS_COUNTERS } from "@/core/processing-state";
import {
  isTopLevelCounter,
  type ProcessingCounter,
  type ProcessingStateChange,
} from "@/core/processing-state-change";
import { parseProcessingState } from "@/core/processing-state-parse";
import type { ProcessingStateStore } from "@/pipeline/processor-store-ports";
import { COLLECTIONS } from "./collections";
import { firestoreCall } from "./errors";

/**
 * One merge write for a change: plain fields as given, counters as `FieldValue.increment`, so two
 * writers never overwrite each other's counts or roll a status back to what they read earlier.
 * (A merge replaces lists whole and merges maps field by field: the `stats` map, and `insights`,
 * whose fields are all written each time; the `stats` counters are stored top-level, see
 * `STORED_STATS_COUNTERS`.)
 */
function mergeDocument(uid: string, change: ProcessingStateChange, now: number): Record<string, unknown> {
  const stats: Record<string, unknown> = { ...change.stats };
  const document: Record<string, unknown> = { uid, ...change.set, updatedAt: now };
  for (const [counter, amount] of Object.entries(change.increment ?? {}) as [ProcessingCounter, number][]) {
    if (isTopLevelCounter(counter)) document[counter] = FieldValue.increment(amount);
    else document[STORED_STATS_COUNTERS[counter]] = FieldValue.increment(amount);
  }
  if (Object.keys(stats).length > 0) document.stats = stats;
  // Usage counters are top-level fields named by window (core/run-usage.ts): incremented, and an
  // earlier window's dropped.
  for (const field of change.usage?.remove ?? []) document[field] = FieldValue.delete();
  for (const [field, amount] of Object.entries(change.usage?.increment ?? {})) {
    document[field] = FieldValue.increment(amount);
  }
  // Per-day delivery counters, the same way: top-level, named by UTC day, incremented without a read.
  for (const field of change.deliveriesByDay?.remove ?? []) document[field] = FieldValue.delete();
  for (const [field, amount] of Object.entries(change.deliveriesByDay?.increment ?? {})) {
    document[field] = FieldValue.increment(amount);
  }
  return document;
}

export function createFirestoreProcessingStateStore(db: Firestore): ProcessingStateStore {
  const states = db.collection(COLLECTIONS.userProcessingState);
  return {
    getState: (uid) =>
      firestoreCall("read processing state", async () => {
        const snapshot = await states.doc(uid).get();
        return snapshot.exists ? parseProcessingState(uid, snapshot.data()) : null;
      }),

    markRunning: ({ uid, phase, status, currentSlotId, now }) =>
      firestoreCall("mark run started", async () => {
        await states.doc(uid).set(
          mergeDocument(
            uid,
            {
              set: { phase, status, isProcessing: true, currentSlotId },
              increment: { consecutiveFailures: 1, unfinishedRuns: 1 },
            },
            now,
          ),
          { merge: true },
        );
      }),

    updateState: ({ uid, change, now }) =>
      firestoreCall("update processing state", async () => {
        await states.doc(uid).set(mergeDocument(uid, change, now), { merge: true });
      }),

    setUserSuspension: ({ uid, suspendUntil }) =>
      firestoreCall("set suspension", async () => {
        // update(): a user deleted meanwhile must not come back as a stub.
        await db.collection(COLLECTIONS.users).doc(uid).update({ suspendUntil });
      }),
  };
}
