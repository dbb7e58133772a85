import "server-only";
import { FieldPath, type Firestore } from "firebase-admin/firestore";
import type { SlotRecord } from "@/core/due-slot";
import { describeError } from "@/core/errors";
import { parseUserDocument } from "@/core/user";
import type { SchedulerRunRecord, SchedulerStore, ScheduleUpdate, SweepState } from "@/pipeline/ports";
import { COLLECTIONS, DUE_FIELD, PARKED_FIELD } from "./collections";
import { firestoreCall } from "./errors";
import { readLlmBreaker } from "./llm-breaker";

/** Firestore allows at most 500 writes in one batch. */
const BATCH_LIMIT = 500;

/** `systemState/unscheduledSweep`: the sweep's cursor, owned by the engine. */
const SWEEP_DOC = "unscheduledSweep";

/** Firestore bills a count aggregation one read per 1,000 index entries, at least one. */
const billedCountReads = (count: number) => Math.max(1, Math.ceil(count / 1_000));

/**
 * The due time, and the parked marker when the due time parks the user. Other writes leave the
 * marker as it was: it counts only while it equals the due time, so it goes stale by itself
 * (the processor reschedules without knowing it, and the emulator does not apply field deletes).
 */
function scheduleFields({ nextCoachingMessageDue, parked }: ScheduleUpdate) {
  return parked
    ? { [DUE_FIELD]: nextCoachingMessageDue, [PARKED_FIELD]: nextCoachingMessageDue }
    : { [DUE_FIELD]: nextCoachingMessageDue };
}

/**
 * The scheduler's queries, all on the top-level due field or the document id so that no query
 * needs a composite index: a range with an order on the same field, an equality, `in [null]`
 * (which, unlike `== null`, the local emulator evaluates too), and the sweep's walk by document
 * id, which is the only way to meet documents that lack the due field (no filter matches them).
 */
export function createFirestoreSchedulerStore(db: Firestore): SchedulerStore {
  const users = db.collection(COLLECTIONS.users);
  const toSnapshots = (documents: FirebaseFirestore.QueryDocumentSnapshot[]) =>
    documents.map((document) => parseUserDocument(document.id, document.data()));

  const updateOneByOne = async (updates: readonly ScheduleUpdate[]) => {
    const failed: { uid: string; reason: string }[] = [];
    for (const update of updates) {
      const { uid } = update;
      try {
        await users.doc(uid).update(scheduleFields(update));
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

    async sweepUsers({ after, limit }) {
      // A range on the id rather than a cursor: the same on Firestore, and the emulator has no
      // cursors. Only the due field is fetched for the scan (a read is billed per document
      // either way, but a page of whole user documents would be far slower to transfer); the
      // few users to fix are then read whole, by id.
      let query = users.orderBy(FieldPath.documentId());
      if (after !== null) query = query.where(FieldPath.documentId(), ">", users.doc(after));
      const scan = await firestoreCall("sweep query", () => query.select(DUE_FIELD).limit(limit).get());
      const toFix = scan.docs.filter((document) => !Number.isFinite(document.get(DUE_FIELD)));
      const documents =
        toFix.length === 0
          ? []
          : await firestoreCall("swept users read", () =>
              db.getAll(...toFix.map((document) => document.ref)),
            );
      const unscheduled = documents.flatMap((document) => {
        const data = document.data();
        if (!data || Number.isFinite(data[DUE_FIELD])) return [];
        // A due time of another type reads as missing; null stays null.
        const { [DUE_FIELD]: due, ...rest } = data;
        return [parseUserDocument(document.id, due === null ? data : rest)];
      });
      return {
        scanned: scan.size,
        lastUid: scan.docs.at(-1)?.id ?? null,
        unscheduled,
        documentsRead: scan.size + toFix.length,
      };
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

    async countUsers() {
      // A range filter matches numbers alone, and NaN and ±Infinity fall outside these bounds, so
      // a user with one of them is swept and fixed like a missing field. Integer bounds, because
      // the emulator compares integers with integers only (due times are whole milliseconds).
      const [all, scheduled] = await Promise.all([
        firestoreCall("user count", () => users.count().get()),
        firestoreCall("scheduled user count", () =>
          users
            .where(DUE_FIELD, ">=", Number.MIN_SAFE_INTEGER)
            .where(DUE_FIELD, "<=", Number.MAX_SAFE_INTEGER)
            .count()
            .get(),
        ),
      ]);
      const total = all.data().count;
      const withDueTime = scheduled.data().count;
      return {
        total,
        withoutDueTime: total - withDueTime,
        billedReads: billedCountReads(total) + billedCountReads(withDueTime),
      };
    },

    async getOpenSlots(slotIds) {
      if (slotIds.length === 0) return new Set();
      const slots = db.collection(COLLECTIONS.coachingSlots);
      const snapshots = await firestoreCall("open slots read", () =>
        db.getAll(...slotIds.map((slotId) => slots.doc(slotId))),
      );
      return new Set(
        snapshots
          .filter((snapshot) => snapshot.exists && (snapshot.data() as SlotRecord).status !== "completed")
          .map((snapshot) => snapshot.id),
      );
    },

    async setNextDue(updates) {
      const failed: { uid: string; reason: string }[] = [];
      for (let start = 0; start < updates.length; start += BATCH_LIMIT) {
        const chunk = updates.slice(start, start + BATCH_LIMIT);
        const batch = db.batch();
        // update() rather than set(): a user deleted since the read must not come back as a stub.
        for (const update of chunk) batch.update(users.doc(update.uid), scheduleFields(update));
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
