import "server-only";
import type { Firestore, UpdateData } from "firebase-admin/firestore";
import { dueRank } from "@/core/due-rank";
import { describeError } from "@/core/errors";
import type { SchedulerStore, ScheduleUpdate } from "@/pipeline/scheduler-store-ports";
import { COACHING_ENABLED_FIELD, COLLECTIONS, DUE_FIELD, PARKED_FIELD, RANK_FIELD } from "../collections";
import { commitBatch } from "../traced-commit";

/** Firestore allows at most 500 writes in one batch. */
const BATCH_LIMIT = 500;

/**
 * The due time, and the parked marker when the due time parks the user. Other writes leave the
 * marker as it was: it counts only while it equals the due time, so it goes stale by itself
 * (the processor reschedules without knowing it, and the emulator does not apply field deletes).
 * The enable flag's mirror rides in the same update, when the decision read the flag.
 */
function scheduleFields({
  uid,
  nextCoachingMessageDue,
  parked,
  missedWindows,
  coachingEnabled,
}: ScheduleUpdate) {
  const fields = {
    [DUE_FIELD]: nextCoachingMessageDue,
    [RANK_FIELD]: dueRank({ uid, dueAt: nextCoachingMessageDue, missedWindows }),
    ...(coachingEnabled === undefined ? {} : { [COACHING_ENABLED_FIELD]: coachingEnabled }),
  };
  return parked ? { ...fields, [PARKED_FIELD]: nextCoachingMessageDue } : fields;
}

/**
 * Updates user documents in batches; returns the users whose update failed, with why.
 * update() rather than set(): a user deleted since the read must not come back as a stub. One
 * missing document fails its whole batch, which is then redone one by one to find which.
 */
async function updateUsersInBatches<Update extends { uid: string }>(
  db: Firestore,
  updates: readonly Update[],
  fieldsOf: (update: Update) => UpdateData<FirebaseFirestore.DocumentData>,
): Promise<{ uid: string; reason: string }[]> {
  const users = db.collection(COLLECTIONS.users);
  const failed: { uid: string; reason: string }[] = [];
  for (let start = 0; start < updates.length; start += BATCH_LIMIT) {
    const chunk = updates.slice(start, start + BATCH_LIMIT);
    const batch = db.batch();
    for (const update of chunk) batch.update(users.doc(update.uid), fieldsOf(update));
    try {
      await commitBatch(batch, "update users");
    } catch {
      for (const update of chunk) {
        try {
          await users.doc(update.uid).update(fieldsOf(update));
        } catch (error) {
          failed.push({ uid: update.uid, reason: describeError(error) });
        }
      }
    }
  }
  return failed;
}

/** The scheduler's writes on users: due times (with their rank) and ranks alone. */
export function createScheduleWrites(db: Firestore): Pick<SchedulerStore, "setDueRanks" | "setNextDue"> {
  return {
    async setDueRanks(updates) {
      const failed = await updateUsersInBatches(db, updates, ({ uid, due }) => ({
        [RANK_FIELD]: dueRank({ uid, dueAt: due }),
      }));
      return { failed };
    },
    async setNextDue(updates) {
      return { failed: await updateUsersInBatches(db, updates, scheduleFields) };
    },
  };
}
