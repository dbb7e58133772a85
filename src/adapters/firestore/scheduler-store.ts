import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import { AppError } from "@/core/errors";
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

const instant = z.number().refine(isInstant, "is not a time (finite, within the range of a Date)");

const chainStepSchema = z.object({
  chainId: z.string(),
  step: z.number().int().nonnegative(),
  attempt: z.number().int().positive(),
  runId: z.string(),
  claimedAt: instant,
  leaseUntil: instant,
  status: z.enum(["running", "completed"]),
}) satisfies z.ZodType<ChainStepRecord>;

const sweepStateSchema = z.object({
  cursor: z.string().nullable(),
  passStartedAt: instant,
  updatedAt: instant,
  chain: z
    .object({
      chainId: z.string(),
      pageSize: z.number().int().nonnegative(),
      scanned: z.number().int().nonnegative(),
    })
    .optional(),
}) satisfies z.ZodType<SweepState>;

/**
 * The two fields of a due slot the scheduler reads, each read safely on its own. A status other
 * than "completed" counts as a run in progress, as the processor reads a slot (core/due-slot.ts
 * `decideClaim`): the user is dispatched rather than rescheduled, and the processor, which owns
 * the slot, decides. A next due time that is not a time counts as none recorded: the scheduler's
 * own decision stands, as for a slot that does not exist.
 */
const dueSlotFieldsSchema = z.object({
  status: z.enum(["running", "completed"]).catch("running"),
  nextCoachingMessageDue: instant.nullable().catch(null),
});

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
      if (!snapshot.exists) return null;
      // A claim that does not parse fails like a read that failed: this delivery does not run the
      // step, and the error is logged by the route. Read as absent (or as a dead claim), it would let
      // the next attempt take over a step another run may be running, and the chain would run twice.
      const parsed = chainStepSchema.safeParse(snapshot.data());
      if (parsed.success) return parsed.data;
      throw new AppError(
        "internal:firestore",
        `scheduler chain step ${snapshot.id} does not parse (${unreadableFields(parsed.error)})`,
      );
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
      if (!snapshot.exists) return null;
      // A state that does not parse reads as none: the tick starts a new pass from the first id
      // and overwrites it. Harmless: the sweep only schedules users without a due time, so a user
      // scanned again is not written again. Failing the read instead would stop the sweep for good,
      // as only a sweep writes this document.
      const parsed = sweepStateSchema.safeParse(snapshot.data());
      return parsed.success ? parsed.data : null;
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
        const { status, nextCoachingMessageDue } = dueSlotFieldsSchema.parse(snapshot.data());
        found.set(snapshot.id, { open: status !== "completed", nextCoachingMessageDue });
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

/** The paths of the fields that failed to parse, for the error message (never their values). */
function unreadableFields(error: z.ZodError): string {
  return error.issues.map((issue) => issue.path.join(".") || "(document)").join(", ");
}
