/**
 * Users no due-time query can see: the bootstrap of those with an explicit null due time, and
 * the sweep that scans a page of users by id per tick for those lacking the field (or holding
 * one of another type), sized so that one pass covers everyone within a day.
 */

import { decideUnscheduledUser, isParking } from "@/core/scheduler-decisions";
import { isCoachingEnabled, type UserSnapshot } from "@/core/user";
import type { SweepState } from "../scheduler-store-ports";
import type { RunSchedulerInput } from "./input";
import type { StepPace } from "./pacing";
import type { RunRecorder } from "./run-recorder";
import { applyWrites, type PlannedWrite, RESULT_BY_REASON } from "./user-writes";

export const SWEEP_DEFAULTS = {
  ticksPerPass: 20,
  minPageSize: 500,
  maxPageSize: 50_000,
  sliceMs: 4_000,
} as const;

/** Users per sweep query; a tick's page is read in queries of this size until it is done or out of time. */
const SWEEP_QUERY_LIMIT = 1_000;

function plannedUnscheduledWrite(input: RunSchedulerInput, snapshot: UserSnapshot, random: () => number) {
  const decision = decideUnscheduledUser({
    snapshot,
    now: input.now,
    recheckAfterMs: input.settings.disabledRecheckMs,
    random,
  });
  return {
    uid: snapshot.uid,
    nextCoachingMessageDue: decision.nextCoachingMessageDue,
    parked: isParking(decision.reason),
    coachingEnabled: isCoachingEnabled(snapshot),
    result: RESULT_BY_REASON[decision.reason],
    detail: snapshot.valid ? undefined : snapshot.problem,
  } satisfies PlannedWrite;
}

export async function bootstrapUnscheduledUsers(
  input: RunSchedulerInput,
  recorder: RunRecorder,
  pace: StepPace,
  random: () => number,
): Promise<void> {
  const { store, settings } = input;
  // No more users than their writes fit in the step's budget at the pace of writes on `users`.
  const limit = Math.min(settings.bootstrapLimit, pace.writes.unitsBefore(settings.timeBudgetMs));
  if (limit <= 0) return;
  const unscheduled = await store.getUnscheduledUsers({ limit });
  recorder.results.documentsRead += unscheduled.length;
  const writes = unscheduled.map((snapshot) => plannedUnscheduledWrite(input, snapshot, random));
  await applyWrites(store, recorder, pace, writes);
  if (unscheduled.length === limit) recorder.results.hasMore = true;
}

/** The sweep's page for this run: how many users it holds, how many are scanned, and from where. */
export interface SweepPage {
  pageSize: number;
  scanned: number;
  cursor: string | null;
  passStartedAt: number;
}

/**
 * Range and `in [null]` queries never return a user who lacks the due field or holds one of
 * another type, so without this such a user would never be scheduled. Two count aggregations
 * (about one read per 1,000 users each) tell whether any such user exists; only then does the
 * tick scan its page of users by document id from the cursor in `systemState/unscheduledSweep`,
 * bootstrapping the enabled ones and parking the rest, as for an explicit null. The page is
 * ceil(users / sweepTicksPerPass), so one pass covers everyone within a day of hourly ticks; a
 * user created behind the cursor is found in the next pass.
 *
 * A cron tick's page is shared by the steps of its chain: step 0 counts and sizes it, each step
 * scans on from where the last stopped, in a slice of its own before its due users (so a
 * backlog that fills every step's budget cannot starve it), and the chain's last step goes on
 * in the time it has left. At 1,000,000 users the page is 50,000 users, 50 queries of 1,000
 * ids: under a backlog the chain's steps (one per 40 s budget until minute 55, about 80) give it
 * about 80 × 4 s = 320 s an hour, enough while a query of 1,000 ids takes under 6 s (tens to
 * hundreds of milliseconds on Firestore), so a pass still takes 20 ticks and everyone is looked
 * at within a day. Overlapping ticks scan the
 * same page and write equally valid due times.
 */
export async function planSweep(input: RunSchedulerInput, recorder: RunRecorder): Promise<SweepPage | null> {
  const { store, settings, now, chain } = input;
  // A manual run over a few users stays small.
  if (input.limit !== undefined) return null;
  const resume = (state: SweepState | null) =>
    chain && state?.chain?.chainId === chain.chainId
      ? {
          pageSize: state.chain.pageSize,
          scanned: state.chain.scanned,
          cursor: state.cursor,
          passStartedAt: state.passStartedAt,
        }
      : null;
  if (chain && chain.step > 0) {
    // Step 0 sized the chain's page; without one it found nobody to sweep.
    const state = await store.getSweepState();
    recorder.results.documentsRead += 1;
    const page = resume(state);
    return page && page.scanned < page.pageSize ? page : null;
  }
  const counts = await store.countUsers();
  recorder.results.aggregationReads += counts.billedReads;
  if (counts.withoutDueTime === 0) return null;
  const state = await store.getSweepState();
  recorder.results.documentsRead += 1;
  // A second delivery of step 0 (a dead attempt taken over) goes on with the chain's page.
  const resumed = resume(state);
  if (resumed) return resumed.scanned < resumed.pageSize ? resumed : null;
  const ticksPerPass = settings.sweepTicksPerPass ?? SWEEP_DEFAULTS.ticksPerPass;
  const cursor = state?.cursor ?? null;
  return {
    pageSize: Math.min(
      settings.sweepMaxPageSize ?? SWEEP_DEFAULTS.maxPageSize,
      Math.max(
        settings.sweepMinPageSize ?? SWEEP_DEFAULTS.minPageSize,
        Math.ceil(counts.total / ticksPerPass),
      ),
    ),
    scanned: 0,
    cursor,
    passStartedAt: cursor === null ? now : (state?.passStartedAt ?? now),
  };
}

/** Scans the sweep's page on until it is done or the run's clock reaches `untilMs`, and saves where it stopped. */
export async function sweepUnscheduledUsers(
  input: RunSchedulerInput,
  recorder: RunRecorder,
  pace: StepPace,
  random: () => number,
  page: SweepPage,
  untilMs: number,
): Promise<void> {
  const { store, now, elapsedMs, chain } = input;
  if (page.scanned >= page.pageSize || elapsedMs() >= untilMs) return;
  while (page.scanned < page.pageSize && elapsedMs() < untilMs) {
    // Each user scanned may need a write: no more than fit before `untilMs` at the pace.
    const limit = Math.min(page.pageSize - page.scanned, SWEEP_QUERY_LIMIT, pace.writes.unitsBefore(untilMs));
    if (limit <= 0) break;
    const scan = await store.sweepUsers({ after: page.cursor, limit });
    recorder.results.usersSwept += scan.scanned;
    recorder.results.documentsRead += scan.documentsRead;
    await applyWrites(
      store,
      recorder,
      pace,
      scan.unscheduled.map((snapshot) => plannedUnscheduledWrite(input, snapshot, random)),
    );
    page.scanned += scan.scanned;
    if (scan.scanned < limit || scan.lastUid === null) {
      // The end of the collection: the next sweep starts a new pass from the first id.
      recorder.results.sweepWrapped = true;
      page.cursor = null;
      page.passStartedAt = now;
      // The pass is complete: this page holds no more users.
      page.scanned = page.pageSize;
      break;
    }
    page.cursor = scan.lastUid;
  }
  await store.saveSweepState({
    cursor: page.cursor,
    passStartedAt: page.passStartedAt,
    updatedAt: now,
    ...(chain ? { chain: { chainId: chain.chainId, pageSize: page.pageSize, scanned: page.scanned } } : {}),
  });
  recorder.results.documentsWritten += 1;
}
