import "server-only";
import type { DocumentReference, Firestore, Query } from "firebase-admin/firestore";

/** Deletes per batch: well under Firestore's 500 writes per commit. */
const DELETE_BATCH = 400;

/** Deletes `documents` in batches of at most `DELETE_BATCH`; returns how many were deleted. */
export async function deleteDocuments(
  db: Firestore,
  documents: readonly DocumentReference[],
): Promise<number> {
  for (let start = 0; start < documents.length; start += DELETE_BATCH) {
    const batch = db.batch();
    for (const document of documents.slice(start, start + DELETE_BATCH)) batch.delete(document);
    await batch.commit();
  }
  return documents.length;
}

/**
 * Deletes what `query` matches, a bounded page at a time, until nothing matches or `maxDeletes`
 * are gone; returns how many. Each page is read again from the start: what was deleted no longer
 * matches, so no cursor is needed (and the emulator ignores query cursors).
 */
export async function deleteMatching(
  db: Firestore,
  query: Query,
  maxDeletes = Number.POSITIVE_INFINITY,
): Promise<number> {
  let deleted = 0;
  while (deleted < maxDeletes) {
    const page = await query
      .limit(Math.min(DELETE_BATCH, maxDeletes - deleted))
      .select()
      .get();
    if (page.empty) break;
    deleted += await deleteDocuments(
      db,
      page.docs.map((document) => document.ref),
    );
  }
  return deleted;
}

/** How many documents `query` matches (an aggregation: one read per 1,000 matches). */
export async function countMatching(query: Query): Promise<number> {
  return (await query.count().get()).data().count;
}
