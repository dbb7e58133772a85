/**
 * An in-memory twin of the Firestore processing-state store
 * (adapters/firestore/processing-state-store.ts): every write is a field-by-field merge with
 * counters added (never a read-modify-write of the whole state), reads are normalised the same
 * way, and the suspension is written on the user document only while it exists. It passes the same
 * contract tests as the Firestore store (test/adapters/processing-state-store.contract.ts).
 */

import {
  emptyProcessingState,
  normaliseProcessingState,
  type ProcessingState,
} from "@/core/processing-state";
import { applyProcessingStateChange } from "@/core/processing-state-change";
import type { ProcessingStateStore } from "@/pipeline/processor-store-ports";
import type { InMemoryDatabase } from "./scheduler-store";

/** `userProcessingState` by uid, as stored: counters unclamped, as increments leave them. */
export type InMemoryProcessingStates = Map<string, ProcessingState>;

export function createInMemoryProcessingStateStore(
  database: InMemoryDatabase,
  states: InMemoryProcessingStates,
): ProcessingStateStore {
  const merge: ProcessingStateStore["updateState"] = async ({ uid, change, now }) => {
    const stored = states.get(uid) ?? emptyProcessingState(uid, now);
    states.set(uid, applyProcessingStateChange(stored, structuredClone(change), now));
  };
  return {
    async getState(uid) {
      const stored = states.get(uid);
      return stored ? normaliseProcessingState(uid, structuredClone(stored)) : null;
    },

    async markRunning({ uid, phase, status, currentSlotId, now }) {
      await merge({
        uid,
        now,
        change: {
          set: { phase, status, isProcessing: true, currentSlotId },
          increment: { consecutiveFailures: 1, unfinishedRuns: 1 },
        },
      });
    },

    updateState: merge,

    async setUserSuspension({ uid, suspendUntil }) {
      // update(): a user deleted meanwhile must not come back as a stub.
      const document = database.users.get(uid);
      if (!document) throw new Error(`NOT_FOUND: no user ${uid}`);
      document.suspendUntil = suspendUntil;
    },
  };
}
