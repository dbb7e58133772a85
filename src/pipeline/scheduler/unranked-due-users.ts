/**
 * Due users without a rank (due times the journaling app wrote, or written before ranks
 * existed): found from two pairs of count aggregations and a bounded scan, and given the rank
 * of their due time, so the due walk, which orders by (due time, rank), sees them.
 */

import type { RunSchedulerInput } from "./input";
import type { StepPace } from "./pacing";
import type { RunRecorder } from "./run-recorder";

const DEFAULT_RANK_SCAN_MAX_USERS = 10_000;

/** Users the scan for unranked due users reads per query (their due time and rank alone). */
const RANK_SCAN_QUERY_LIMIT = 1_000;

/** How many due users lack a rank, from two count aggregations. */
async function countUnrankedDueUsers(input: RunSchedulerInput, recorder: RunRecorder): Promise<number> {
  const counts = await input.store.countDueUsers({ now: input.now });
  recorder.results.aggregationReads += counts.billedReads;
  return counts.due - counts.ranked;
}

/**
 * The due walk orders by (due time, rank), and Firestore's order on the rank leaves out every
 * document without one: due times the journaling app wrote, and those written before ranks
 * existed. Two count aggregations (about one read per 1,000 due users each) tell whether any
 * due user lacks a rank; only then are the due users scanned, on their due time and rank alone,
 * until every unranked one is found, and given the rank of their due time, so the walk that
 * follows sees them. Every due time the engine writes carries a rank, so this runs for
 * app-written due times and, once, for the users of a deployment that predates ranks.
 *
 * The two counts are not one snapshot: a user rescheduled between them (the processor writes
 * hundreds a second at peak) makes them differ with nobody unranked, and a scan for users that
 * do not exist would read the whole due set. So a difference is believed only when a second
 * pair of counts shows it too (the smaller one is taken), and one step scans at most
 * `rankScanMaxUsers` due users (oldest first, as the walk serves them); users beyond are found
 * by a later tick, as older users are served and leave the due set ahead of them. Runs at the
 * first step of a chain; a later step starts behind users ranked here, which the next tick takes.
 */
export async function rankUnrankedDueUsers(
  input: RunSchedulerInput,
  recorder: RunRecorder,
  pace: StepPace,
): Promise<void> {
  const { store, settings, now, elapsedMs } = input;
  const outOfTime = () => elapsedMs() >= settings.timeBudgetMs;
  const firstReading = await countUnrankedDueUsers(input, recorder);
  if (firstReading <= 0) return;
  const missing = Math.min(firstReading, await countUnrankedDueUsers(input, recorder));
  if (missing <= 0) return;
  const maxScanned = settings.rankScanMaxUsers ?? DEFAULT_RANK_SCAN_MAX_USERS;
  let found = 0;
  let scanned = 0;
  let after: { due: number; uid: string } | null = null;
  while (found < missing && scanned < maxScanned && !outOfTime()) {
    const limit = Math.min(
      RANK_SCAN_QUERY_LIMIT,
      maxScanned - scanned,
      pace.writes.unitsBefore(settings.timeBudgetMs),
    );
    if (limit <= 0) return;
    const page = await store.scanUnrankedDueUsers({ now, after, limit });
    scanned += page.scanned;
    recorder.results.documentsRead += page.documentsRead;
    for (let start = 0; start < page.unranked.length; start += pace.writes.chunk) {
      const batch = page.unranked.slice(start, start + pace.writes.chunk);
      await pace.writes.take(batch.length);
      const { failed } = await store.setDueRanks(batch);
      const ranked = batch.length - failed.length;
      recorder.results.usersRanked += ranked;
      recorder.results.documentsWritten += ranked;
    }
    found += page.unranked.length;
    if (page.scanned < limit || page.last === null) return;
    after = page.last;
  }
}
