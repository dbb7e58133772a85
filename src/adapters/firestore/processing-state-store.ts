import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import { normaliseProcessingState, type ProcessingState } from "@/core/processing-state";
import type { ProcessingStateStore } from "@/pipeline/processor-ports";
import { COLLECTIONS } from "./collections";
import { firestoreCall } from "./errors";

export function createFirestoreProcessingStateStore(db: Firestore): ProcessingStateStore {
  const states = db.collection(COLLECTIONS.userProcessingState);
  return {
    getState: (uid) =>
      firestoreCall("read processing state", async () => {
        const snapshot = await states.doc(uid).get();
        return snapshot.exists
          ? normaliseProcessingState(uid, snapshot.data() as Partial<ProcessingState>)
          : null;
      }),

    markRunning: ({ uid, phase, status, currentSlotId, now }) =>
      firestoreCall("mark run started", async () => {
        await states
          .doc(uid)
          .set({ uid, phase, status, isProcessing: true, currentSlotId, updatedAt: now }, { merge: true });
      }),

    saveState: (state) =>
      firestoreCall("save processing state", async () => {
        await states.doc(state.uid).set(state);
      }),

    setUserSuspension: ({ uid, suspendUntil }) =>
      firestoreCall("set suspension", async () => {
        // update(): a user deleted meanwhile must not come back as a stub.
        await db.collection(COLLECTIONS.users).doc(uid).update({ suspendUntil });
      }),
  };
}
