import "server-only";
import type { CollectionReference, Query, QuerySnapshot } from "firebase-admin/firestore";
import type { JournalEntry } from "@/core/coaching-context";
import {
  completeTimes,
  type EntriesAfter,
  foldEntriesAfterPage,
  JOURNAL_SCAN_MAX_PAGES,
  journalPageSize,
  toUserEntry,
} from "@/core/journal-scan";

/**
 * Reads of a user's journal (`users/{uid}/journalEntries`) that skip the engine's own coaching
 * entries, page after page up to the scan bound, as core/journal-scan.ts decides.
 */

/** A page's documents with their times, cut at the last complete time (core/journal-scan.ts). */
function timedPage(snapshot: QuerySnapshot, pageSize: number) {
  return completeTimes(
    snapshot.docs.map((document) => ({
      id: document.id,
      document: document.data(),
      createdAt: document.get("createdAt"),
    })),
    pageSize,
  );
}

/**
 * The user's own entries, newest first, until `limit` of them or the scan bound: a run of
 * coaching entries must not hide the user's own.
 */
export async function readOwnEntriesNewestFirst(
  journal: CollectionReference,
  limit: number,
): Promise<JournalEntry[]> {
  const pageSize = journalPageSize(limit);
  const entries: JournalEntry[] = [];
  let before: number | null = null;
  for (let page = 0; page < JOURNAL_SCAN_MAX_PAGES && entries.length < limit; page += 1) {
    const query: Query = before === null ? journal : journal.where("createdAt", "<", before);
    const snapshot = await query.orderBy("createdAt", "desc").limit(pageSize).get();
    const documents = timedPage(snapshot, pageSize);
    for (const { id, document } of documents) {
      const entry = toUserEntry(id, document);
      if (entry && entries.length < limit) entries.push(entry);
    }
    const oldest = documents.at(-1)?.createdAt;
    if (snapshot.size < pageSize || typeof oldest !== "number") break;
    before = oldest;
  }
  return entries;
}

/**
 * The user's own entries written after `after`, oldest first, until `limit` of them or the scan
 * bound; `readThrough` moves past the coaching entries skipped.
 */
export async function readOwnEntriesAfter(
  journal: CollectionReference,
  after: number,
  limit: number,
): Promise<EntriesAfter> {
  const pageSize = journalPageSize(limit);
  let found: EntriesAfter = { entries: [], readThrough: after };
  for (let page = 0; page < JOURNAL_SCAN_MAX_PAGES; page += 1) {
    const snapshot = await journal
      .where("createdAt", ">", found.readThrough)
      .orderBy("createdAt")
      .limit(pageSize)
      .get();
    const folded = foldEntriesAfterPage(found, timedPage(snapshot, pageSize), limit);
    found = { entries: folded.entries, readThrough: folded.readThrough };
    if (folded.full || snapshot.size < pageSize) break;
  }
  return found;
}
