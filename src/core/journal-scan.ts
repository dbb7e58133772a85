/**
 * Reading the user's own journal entries out of a journal that also holds the engine's coaching
 * entries (and perhaps malformed documents). Both stores read in pages and keep what this module
 * accepts, so the Firestore store and its in-memory twin agree. Pure.
 *
 * The bound: a read examines at most `JOURNAL_SCAN_MAX_PAGES` pages of `limit × JOURNAL_PAGE_FACTOR`
 * documents (limit 5: 60 documents; limit 10: 120), so one call costs a known number of reads
 * however many coaching entries pile up during a journaling pause. A read that stops at the bound
 * says how far it got (`readThrough`), so the next read goes on from there instead of starting
 * over.
 */
import type { JournalEntry } from "./coaching-context";

/** Documents per page, as a multiple of the entries wanted: coaching entries are usually rarer. */
export const JOURNAL_PAGE_FACTOR = 3;
/** Pages per read at most: bounds the cost of one read during a long journaling pause. */
export const JOURNAL_SCAN_MAX_PAGES = 4;

export function journalPageSize(limit: number): number {
  return Math.max(1, limit * JOURNAL_PAGE_FACTOR);
}

/**
 * The documents of a page that the next page cannot repeat or skip. Pages are read by time
 * (`createdAt` after the last one read; the emulator has no query cursors), so a full page that
 * ends inside a run of equal times leaves that run to the next page, which starts after the time
 * before it. A full page of one single time is taken whole (the next page then starts after it):
 * `pageSize` entries written in the same millisecond do not happen in a journal.
 */
export function completeTimes<Document extends { createdAt: unknown }>(
  page: readonly Document[],
  pageSize: number,
): readonly Document[] {
  if (page.length < pageSize) return page;
  const lastTime = page.at(-1)?.createdAt;
  const complete = page.filter((document) => document.createdAt !== lastTime);
  return complete.length > 0 ? complete : page;
}

/** The user's own entry in a journal document, or null for a coaching entry or a malformed one. */
export function toUserEntry(id: string, document: Record<string, unknown>): JournalEntry | null {
  if (document.isCoachingMessage === true) return null;
  if (typeof document.content !== "string" || typeof document.createdAt !== "number") return null;
  return {
    id,
    content: document.content,
    createdAt: document.createdAt,
    ...(typeof document.title === "string" && document.title !== "" ? { title: document.title } : {}),
  };
}

/** What a read of entries after a cursor found, and how far it read. */
export interface EntriesAfter {
  /** The user's own entries, oldest first, at most `limit`. */
  entries: JournalEntry[];
  /**
   * `createdAt` of the last document this read accounted for (kept or skipped), or the cursor it
   * started from: everything up to it has been seen, so the insights cursor may move there.
   */
  readThrough: number;
}

/**
 * Folds one page (oldest first) into a read of entries after a cursor: keeps the user's entries
 * up to `limit` and moves `readThrough` past every document it accounted for; `full` once
 * `limit` entries are found (the documents after the last one kept are left for the next read).
 */
export function foldEntriesAfterPage(
  found: EntriesAfter,
  page: readonly { id: string; document: Record<string, unknown> }[],
  limit: number,
): EntriesAfter & { full: boolean } {
  const entries = [...found.entries];
  let readThrough = found.readThrough;
  for (const { id, document } of page) {
    if (entries.length >= limit) break;
    const entry = toUserEntry(id, document);
    if (entry) entries.push(entry);
    if (typeof document.createdAt === "number") readThrough = Math.max(readThrough, document.createdAt);
  }
  return { entries, readThrough, full: entries.length >= limit };
}
