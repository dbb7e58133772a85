import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import type { SlotRecord } from "@/core/due-slot";
import { isInstant } from "@/core/user";
import type {
  ChainStepRecord,
  DueSlotState,
  SchedulerStore,
  SweepState,
} from "@/pipeline/scheduler-store-ports";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";
import { readLlmBreaker } from "./llm-breaker";
import { createDueUserQueries } from "./scheduler/due-user-queries";
import { createScheduleWrites } from "./scheduler/schedule-writes";

const chainStepId = ({ chainId, step, attempt }: { chainId: string; step: number; attempt: number }) =>
  `${chainId}_${step}_${attempt}`;

/** `systemState/unscheduledSweep`: the sweep's cursor, owned by the engine. */
const SWEEP_DOC = "unscheduledSweep";

/**
 * The scheduler's store on Firestore: the queries on users (`scheduler/due-user-queries.ts`) and
 * its writes to them (`scheduler/schedule-writes.ts`), with the chain step claims, the due slots'
 * state, the sweep's cursor, the run summaries and the LLM breaker read here.
 */
export function createFirestoreSchedulerStore(db: Firestore): SchedulerStore {
  return {
    ...createDueUserQueries(db),
    ...createScheduleWrites(db),

    createChainStep: (step) =>
      createOnce("claim scheduler chain step", () =>
        db.collection(COLLECTIONS.schedulerChainSteps).doc(chainStepId(step)).create(step),
      ),

    async getChainStep(query) {
      const snapshot = await firestoreCall("read scheduler chain step", () =>
        db.collection(COLLECTIONS.schedulerChainSteps).doc(chainStepId(query)).get(),
      );
      return snapshot.exists ? (snapshot.data() as ChainStepRecord) : null;
    },

    async completeChainStep(query) {
      await firestoreCall("complete scheduler chain step", () =>
        db
          .collection(COLLECTIONS.schedulerChainSteps)
          .doc(chainStepId(query))
          .update({ status: "completed" }),
      );
    },

    async getSweepState() {
      const snapshot = await firestoreCall("sweep state read", () =>
        db.collection(COLLECTIONS.systemState).doc(SWEEP_DOC).get(),
      );
      return snapshot.exists ? (snapshot.data() as SweepState) : null;
    },

    async saveSweepState(state) {
      await firestoreCall("sweep state write", () =>
        db.collection(COLLECTIONS.systemState).doc(SWEEP_DOC).set(state),
      );
    },

    async getDueSlots(slotIds) {
      const found = new Map<string, DueSlotState>();
      if (slotIds.length === 0) return found;
      const slots = db.collection(COLLECTIONS.coachingSlots);
      // Only the two fields the scheduler needs, not the whole slot.
      const snapshots = await firestoreCall("due slots read", () =>
        db.getAll(...slotIds.map((slotId) => slots.doc(slotId)), {
          fieldMask: ["status", "nextCoachingMessageDue"],
        }),
      );
      for (const snapshot of snapshots) {
        if (!snapshot.exists) continue;
        const { status, nextCoachingMessageDue } = snapshot.data() as Partial<SlotRecord>;
        found.set(snapshot.id, {
          open: status !== "completed",
          nextCoachingMessageDue: isInstant(nextCoachingMessageDue) ? nextCoachingMessageDue : null,
        });
      }
      return found;
    },

    async saveRun(run) {
      await firestoreCall("run summary write", () =>
        db.collection(COLLECTIONS.schedulerRuns).doc(run.runId).set(run),
      );
    },
    getLlmBreaker: () => readLlmBreaker(db),
  };
}
