import "server-only";
import {
  type CollectionReference,
  FieldPath,
  type Firestore,
  type Query,
  type QueryDocumentSnapshot,
} from "firebase-admin/firestore";
import { LOWEST_RANK } from "@/core/due-rank";
import { isInstant, MAX_INSTANT_MS, parseUserDocument } from "@/core/user";
import type { SchedulerStore } from "@/pipeline/scheduler-store-ports";
import { COLLECTIONS, DUE_FIELD, RANK_FIELD } from "../collections";
import { firestoreCall } from "../errors";

/** Firestore bills a count aggregation one read per 1,000 index entries, at least one. */
const billedCountReads = (count: number) => Math.max(1, Math.ceil(count / 1_000));

/**
 * A keyset page over (due time, a second key): the rest of the cursor's due time past its second
 * key, then the later due times of `upToNow`, `limit` documents in all; `fields` alone when given.
 */
async function readDueKeysetPage({
  users,
  upToNow,
  secondKey,
  after,
  limit,
  fields,
  labels,
}: {
  users: CollectionReference;
  /** The users due at or before now that the page may hold. */
  upToNow: Query;
  secondKey: string | FieldPath;
  after: { due: number; key: unknown } | undefined;
  limit: number;
  fields?: string[];
  labels: { group: string; later: string };
}): Promise<QueryDocumentSnapshot[]> {
  const project = (query: Query) => (fields ? query.select(...fields) : query);
  const documents: QueryDocumentSnapshot[] = [];
  if (after) {
    const group = await firestoreCall(labels.group, () =>
      project(users.where(DUE_FIELD, "==", after.due).where(secondKey, ">", after.key).orderBy(secondKey))
        .limit(limit)
        .get(),
    );
    documents.push(...group.docs);
  }
  if (documents.length < limit) {
    const query = after ? upToNow.where(DUE_FIELD, ">", after.due) : upToNow;
    const later = await firestoreCall(labels.later, () =>
      project(query.orderBy(DUE_FIELD).orderBy(secondKey))
        .limit(limit - documents.length)
        .get(),
    );
    documents.push(...later.docs);
  }
  return documents;
}

type DueUserQueries = Pick<
  SchedulerStore,
  | "getDueUsers"
  | "countDueUsers"
  | "scanUnrankedDueUsers"
  | "getUnscheduledUsers"
  | "sweepUsers"
  | "countUsers"
>;

/**
 * The scheduler's queries on users, on the top-level due field, its rank, or the document id: the
 * due walk by (due, rank), served by the one composite index (due ASC, rank ASC) in
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
export function createDueUserQueries(db: Firestore): DueUserQueries {
  const users = db.collection(COLLECTIONS.users);
  const toSnapshots = (documents: QueryDocumentSnapshot[]) =>
    documents.map((document) => parseUserDocument(document.id, document.data()));

  return {
    async getDueUsers({ now, after, limit }) {
      // Keyset over the pair: the rest of the cursor's group by rank, then the later groups.
      const documents = await readDueKeysetPage({
        users,
        upToNow: users.where(DUE_FIELD, "<=", now).where(RANK_FIELD, ">=", LOWEST_RANK),
        secondKey: RANK_FIELD,
        after: after ? { due: after.due, key: after.rank } : undefined,
        limit,
        labels: { group: "due-group query", later: "due-users query" },
      });
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
      const documents = await readDueKeysetPage({
        users,
        upToNow: users.where(DUE_FIELD, "<=", now),
        secondKey: FieldPath.documentId(),
        after: after ? { due: after.due, key: users.doc(after.uid) } : undefined,
        limit,
        fields: [DUE_FIELD, RANK_FIELD],
        labels: { group: "unranked scan group query", later: "unranked scan query" },
      });
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
  };
}
