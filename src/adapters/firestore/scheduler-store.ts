import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import { describeError } from "@/core/errors";
import { parseUserDocument } from "@/core/user";
import type { SchedulerRunRecord, SchedulerStore, ScheduleUpdate } from "@/pipeline/ports";
import { COLLECTIONS, DUE_FIELD } from "./collections";
import { firestoreCall } from "./errors";
import { readLlmBreaker } from "./llm-breaker";

/** Firestore allows at most 500 writes in one batch. */
const BATCH_LIMIT = 500;

/**
 * The scheduler's queries, all on the top-level due field so that no query needs a composite
 * index: a range with an order on the same field, an equality, and `in [null]` (which, unlike
 * `== null`, the local emulator evaluates too).
 */
export function createFirestoreSchedulerStore(db: Firestore): SchedulerStore {
  const users = db.collection(COLLECTIONS.users);
  const toSnapshots = (documents: FirebaseFirestore.QueryDocumentSnapshot[]) =>
    documents.map((document) => parseUserDocument(document.id, document.data()));

  const updateOneByOne = async (updates: readonly ScheduleUpdate[]) => {
    const failed: { uid: string; reason: string }[] = [];
    for (const { uid, nextCoachingMessageDue } of updates) {
      try {
        await users.doc(uid).update({ [DUE_FIELD]: nextCoachingMessageDue });
      } catch (error) {
        failed.push({ uid, reason: describeError(error) });
      }
    }
    return failed;
  };

  return {
    async getDueUsers({ now, after, limit }) {
      let query = users.where(DUE_FIELD, "<=", now);
      if (after !== undefined) query = query.where(DUE_FIELD, ">", after);
      const snapshot = await firestoreCall("due-users query", () =>
        query.orderBy(DUE_FIELD).limit(limit).get(),
      );
      return toSnapshots(snapshot.docs);
    },

    async getUsersDueAt({ at, limit }) {
      const snapshot = await firestoreCall("due-at query", () =>
        users.where(DUE_FIELD, "==", at).limit(limit).get(),
      );
      return toSnapshots(snapshot.docs);
    },

    async getUnscheduledUsers({ limit }) {
      const snapshot = await firestoreCall("unscheduled-users query", () =>
        users.where(DUE_FIELD, "in", [null]).limit(limit).get(),
      );
      return toSnapshots(snapshot.docs);
    },

    async setNextDue(updates) {
      const failed: { uid: string; reason: string }[] = [];
      for (let start = 0; start < updates.length; start += BATCH_LIMIT) {
        const chunk = updates.slice(start, start + BATCH_LIMIT);
        const batch = db.batch();
        // update() rather than set(): a user deleted since the read must not come back as a stub.
        for (const { uid, nextCoachingMessageDue } of chunk) {
          batch.update(users.doc(uid), { [DUE_FIELD]: nextCoachingMessageDue });
        }
        try {
          await batch.commit();
        } catch {
          // One missing document fails the whole batch; redo it one by one to find which.
          failed.push(...(await updateOneByOne(chunk)));
        }
      }
      return { failed };
    },

    async saveRun(run: SchedulerRunRecord) {
      await firestoreCall("run summary write", () =>
        db.collection(COLLECTIONS.schedulerRuns).doc(run.runId).set(run),
      );
    },
    getLlmBreaker: () => readLlmBreaker(db),
  };
}
