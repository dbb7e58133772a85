import "server-only";
import { FieldPath, type Firestore } from "firebase-admin/firestore";
import { dueRank, LOWEST_RANK } from "@/core/due-rank";
import type { SlotRecord } from "@/core/due-slot";
import { describeError } from "@/core/errors";
import { isInstant, MAX_INSTANT_MS, parseUserDocument } from "@/core/user";
import type {
  ChainStepRecord,
  DueSlotState,
  SchedulerRunRecord,
  SchedulerStore,
  ScheduleUpdate,
  SweepState,
} from "@/pipeline/ports";
import { COLLECTIONS, DUE_FIELD, PARKED_FIELD, RANK_FIELD } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";
import { readLlmBreaker } from "./llm-breaker";

const chainStepId = ({ chainId, step, attempt }: { chainId: string; step: number; attempt: number }) =>
  `${chainId}_${step}_${attempt}`;

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
function scheduleFields({ uid, nextCoachingMessageDue, parked, missedWindows }: ScheduleUpdate) {
  const fields = {
    [DUE_FIELD]: nextCoachingMessageDue,
    [RANK_FIELD]: dueRank({ uid, dueAt: nextCoachingMessageDue, missedWindows }),
  };
  return parked ? { ...fields, [PARKED_FIELD]: nextCoachingMessageDue } : fields;
}

/**
 * The scheduler's queries, on the top-level due field, its rank, or the document id: the due
 * walk by (due, rank), served by the one composite index (due ASC, rank ASC) in
 * firestore.indexes.json; the scan for due users without a rank by (due, document id) and the
 * counts, on the single-field indexes; `in [null]` (which, unlike `== null`, the local emulator
 * evaluates too); and the sweep's walk by document id, which is the only way to meet documents
 * that lack the due field (no filter matches them).
 *
 * The ranked queries state `rank >= LOWEST_RANK` explicitly although real Firestore's order on
 * the rank already leaves out documents without one: the local emulator keeps such documents in
 * an order (it only drops them for a filter), so with the filter both behave alike and the
 * contract tests prove on the emulator what production does.
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
      // Keyset over the pair: the rest of the cursor's group by rank, then the later groups.
      const documents: FirebaseFirestore.QueryDocumentSnapshot[] = [];
      if (after) {
        const group = await firestoreCall("due-group query", () =>
          users
            .where(DUE_FIELD, "==", after.due)
            .where(RANK_FIELD, ">", after.rank)
            .orderBy(RANK_FIELD)
            .limit(limit)
            .get(),
        );
        documents.push(...group.docs);
      }
      if (documents.length < limit) {
        let query = users.where(DUE_FIELD, "<=", now).where(RANK_FIELD, ">=", LOWEST_RANK);
        if (after) query = query.where(DUE_FIELD, ">", after.due);
        const later = await firestoreCall("due-users query", () =>
          query
            .orderBy(DUE_FIELD)
            .orderBy(RANK_FIELD)
            .limit(limit - documents.length)
            .get(),
        );
        documents.push(...later.docs);
      }
      return toSnapshots(documents);
    },

    async countDueUsers({ now }) {
      const [all, ranked] = await Promise.all([
        firestoreCall("due user count", () => users.where(DUE_FIELD, "<=", now).count().get()),
        firestoreCall("ranked due user count", () =>
          users
            .where(DUE_FIELD, "<=", now)
            .where(RANK_FIELD, ">=", LOWEST_RANK)
            .orderBy(DUE_FIELD)
            .orderBy(RANK_FIELD)
            .count()
            .get(),
        ),
      ]);
      const due = all.data().count;
      const rankedCount = ranked.data().count;
      return { due, ranked: rankedCount, billedReads: billedCountReads(due) + billedCountReads(rankedCount) };
    },

    async scanUnrankedDueUsers({ now, after, limit }) {
      // Keyset over (due, id), on the single-field index: the rest of the cursor's group by id,
      // then the later due times. Only the due time and rank are fetched.
      const documents: FirebaseFirestore.QueryDocumentSnapshot[] = [];
      if (after) {
        const group = await firestoreCall("unranked scan group query", () =>
          users
            .where(DUE_FIELD, "==", after.due)
            .where(FieldPath.documentId(), ">", users.doc(after.uid))
            .orderBy(FieldPath.documentId())
            .select(DUE_FIELD, RANK_FIELD)
            .limit(limit)
            .get(),
        );
        documents.push(...group.docs);
      }
      if (documents.length < limit) {
        let query = users.where(DUE_FIELD, "<=", now);
        if (after) query = query.where(DUE_FIELD, ">", after.due);
        const later = await firestoreCall("unranked scan query", () =>
          query
            .orderBy(DUE_FIELD)
            .orderBy(FieldPath.documentId())
            .select(DUE_FIELD, RANK_FIELD)
            .limit(limit - documents.length)
            .get(),
        );
        documents.push(...later.docs);
      }
      const last = documents.at(-1);
      return {
        scanned: documents.length,
        last: last ? { due: last.get(DUE_FIELD) as number, uid: last.id } : null,
        unranked: documents
          .filter((document) => !Number.isFinite(document.get(RANK_FIELD)))
          .map((document) => ({ uid: document.id, due: document.get(DUE_FIELD) as number })),
        documentsRead: documents.length,
      };
    },

    async setDueRanks(updates) {
      const failed: { uid: string; reason: string }[] = [];
      const rankOf = ({ uid, due }: { uid: string; due: number }) => ({
        [RANK_FIELD]: dueRank({ uid, dueAt: due }),
      });
      for (let start = 0; start < updates.length; start += BATCH_LIMIT) {
        const chunk = updates.slice(start, start + BATCH_LIMIT);
        const batch = db.batch();
        for (const update of chunk) batch.update(users.doc(update.uid), rankOf(update));
        try {
          await batch.commit();
        } catch {
          for (const update of chunk) {
            try {
              await users.doc(update.uid).update(rankOf(update));
            } catch (error) {
              failed.push({ uid: update.uid, reason: describeError(error) });
            }
          }
        }
      }
      return { failed };
    },

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
      const toFix = scan.docs.filter((document) => !isInstant(document.get(DUE_FIELD)));
      const documents =
        toFix.length === 0
          ? []
          : await firestoreCall("swept users read", () =>
              db.getAll(...toFix.map((document) => document.ref)),
            );
      const unscheduled = documents.flatMap((document) => {
        const data = document.data();
        if (!data || isInstant(data[DUE_FIELD])) return [];
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
      // A range filter matches numbers alone, and NaN, ±Infinity and numbers beyond a Date's range
      // fall outside these bounds, so a user with one of them is swept and fixed like a missing
      // field. Integer bounds, because the emulator compares integers with integers only (due
      // times are whole milliseconds).
      const [all, scheduled] = await Promise.all([
        firestoreCall("user count", () => users.count().get()),
        firestoreCall("scheduled user count", () =>
          users.where(DUE_FIELD, ">=", -MAX_INSTANT_MS).where(DUE_FIELD, "<=", MAX_INSTANT_MS).count().get(),
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
