/**
 * The due-user walk: pages of due users by keyset on (due time, rank), each user rescheduled or
 * dispatched to the processor, within the step's budget, its cap, its paces and the minute's
 * share of the LLM ceiling; and the breaker re-read while a probe is due.
 */

import { breakerGate } from "@/core/circuit-breaker";
import { missedWindowsOf } from "@/core/due-rank";
import { decideDueUser, isParking, missesWindow } from "@/core/scheduler-decisions";
import { isCoachingEnabled, type UserSnapshot } from "@/core/user";
import { mapWithConcurrency } from "../bounded-concurrency";
import type { DispatchOutcome, MinuteShare } from "../dispatch-ports";
import type { DueCursor } from "../scheduler-store-ports";
import { inSpan } from "../tracing";
import { readCurrentSlots } from "./current-slots";
import type { RunSchedulerInput } from "./input";
import type { StepPace } from "./pacing";
import type { RunRecorder } from "./run-recorder";
import { applyWrites, type PlannedWrite, RESULT_BY_REASON } from "./user-writes";

/** The position of a user returned by the due walk, which returns only users with both values. */
function cursorOf(snapshot: UserSnapshot): DueCursor {
  return { due: snapshot.nextCoachingMessageDue as number, rank: snapshot.dueRank as number };
}

/**
 * Called once, as soon as the walk knows where it ends (`handledUpTo`) and whether due users
 * are left (`results.hasMore`): possibly while processor calls are still in flight, so the
 * next step of a chain starts without waiting for them. `minuteShare` says how many calls the
 * walk started in its last minute, for the next step (a paced chain).
 */
type WalkEndListener = (handledUpTo: DueCursor | null, minuteShare: MinuteShare) => void;

/**
 * One processor call, recorded: accepted, refused, or cut off by the deadline without an answer.
 * Its span is the parent the processor's run joins (the dispatcher carries the trace along).
 */
function dispatchUser(
  input: RunSchedulerInput,
  recorder: RunRecorder,
  userId: string,
  signal: AbortSignal,
): Promise<void> {
  const fields = {
    "coaching.component": "scheduler",
    "coaching.uid": userId,
    "coaching.run_id": input.runId,
  };
  return inSpan("scheduler.dispatch", fields, async (span) => {
    const outcome = await input.dispatcher.dispatch({ userId, runId: input.runId, signal });
    span.set(
      outcome.ok ? { "coaching.dispatch.status": outcome.status } : { "coaching.dispatch.failed": true },
    );
    recordDispatch(recorder, userId, signal, outcome);
  });
}

function recordDispatch(
  recorder: RunRecorder,
  userId: string,
  signal: AbortSignal,
  outcome: DispatchOutcome,
): void {
  if (outcome.ok) recorder.record(userId, "dispatched");
  else if (signal.aborted || outcome.unconfirmed) {
    // The request may have reached the processor, which then runs it (idempotent per slot);
    // if it did not, the user is still due and a later tick takes them.
    const cause = signal.aborted ? "aborted at the step's deadline" : "cut off without an answer";
    recorder.record(userId, "dispatch_unconfirmed", `${cause}: ${outcome.reason}`);
  } else recorder.record(userId, "dispatch_failed", outcome.reason);
}

/**
 * Pages through due users by keyset on (due time, rank), from `startAfter`. Equal due times are
 * common (every New York morning user is due at the same instant); the rank orders them afresh
 * for every due time and puts users who missed their last window first (core/due-rank.ts), so
 * when a tick cannot serve a whole group, the users left over are not the same ones every day.
 * Returns the last position handled: every user up to it was dispatched, rescheduled or failed;
 * the ones after it (deferred for time, for the minute's share of the LLM ceiling, or beyond the
 * cap) are still due. `onEnd` hears that position as soon as it is known: when the budget or the
 * minute's share runs out (the first user deferred) or the cap's last user is dispatched, before
 * the calls in flight settle.
 */
export async function sweepDueUsers(
  input: RunSchedulerInput,
  recorder: RunRecorder,
  pace: StepPace,
  startAfter: DueCursor | null,
  signal: AbortSignal,
  onEnd: WalkEndListener,
): Promise<DueCursor | null> {
  const { store, settings, now, elapsedMs } = input;
  const cap = Math.min(settings.maxUsersPerTick, input.limit ?? Number.POSITIVE_INFINITY);
  const capacity = () => cap - recorder.results.usersDue;
  const outOfTime = () => elapsedMs() >= settings.timeBudgetMs;
  // Processor calls the chain may still start in the current UTC minute under the LLM ceiling.
  const share = settings.dispatchesPerMinute ?? Number.POSITIVE_INFINITY;
  // `now` is the instant of the step's start, when `elapsedMs()` was 0.
  const minuteOf = (elapsed: number) => Math.floor((now + elapsed) / 60_000) * 60_000;
  let minute = minuteOf(elapsedMs());
  const carried = input.chain?.minuteShare;
  let allowance = share - (carried && carried.minute === minute ? carried.dispatched : 0);
  // A share belongs to its minute: a call that starts in a later minute counts in that one, so
  // a step whose share outlives its minute (it started near the minute's end, or dispatches
  // slower than its share) starts no more than a share in any UTC minute.
  const enterMinuteOf = (elapsed: number) => {
    const current = minuteOf(elapsed);
    if (current > minute) {
      minute = current;
      allowance = share;
    }
  };
  let position = startAfter;
  let breakerOpen = recorder.results.breakerOpen;
  let dispatchedWhileProbeDue = false;
  let ended = false;
  const end = (handledUpTo: DueCursor | null) => {
    if (ended) return;
    ended = true;
    onEnd(handledUpTo, { minute, dispatched: share - allowance });
  };

  while (capacity() > 0) {
    enterMinuteOf(elapsedMs());
    if (allowance <= 0) {
      // The minute's share is dispatched: wait for the next minute, as long as the budget lasts.
      // A step that cannot reach it (a minute is longer than a budget) ends at its budget and the
      // next step, started then with this minute's count, waits for the rest.
      const nextMinuteElapsed = minute + 60_000 - now;
      await pace.clock.waitUntil(Math.min(nextMinuteElapsed, settings.timeBudgetMs));
      if (elapsedMs() < nextMinuteElapsed || outOfTime()) {
        recorder.results.hasMore = true;
        end(position);
        return position;
      }
      enterMinuteOf(elapsedMs());
    }
    // A page holds no more users than their writes, at the pace of writes on `users`, fit in
    // the budget: every user read is handled.
    const limit = Math.min(settings.pageSize, capacity(), pace.writes.unitsBefore(settings.timeBudgetMs));
    if (limit <= 0) {
      recorder.results.hasMore = true;
      end(position);
      return position;
    }
    if (dispatchedWhileProbeDue && !breakerOpen) breakerOpen = await probeStillPending(input, recorder);
    const page = await store.getDueUsers({ now, after: position ?? undefined, limit });
    recorder.results.documentsRead += page.length;
    recorder.results.usersDue += page.length;

    const decided = page.map((snapshot) => ({
      snapshot,
      decision: decideDueUser({
        snapshot,
        now,
        recheckAfterMs: settings.disabledRecheckMs,
        breakerOpen,
      }),
    }));
    const currentSlots = await readCurrentSlots(input, recorder, decided);

    const writes: PlannedWrite[] = [];
    const toDispatch: string[] = [];
    for (const { snapshot, decision } of decided) {
      if (decision.action === "dispatch" || currentSlots.open.has(snapshot.uid)) {
        toDispatch.push(snapshot.uid);
        continue;
      }
      const recordedDue = currentSlots.recordedDue.get(snapshot.uid);
      writes.push({
        uid: snapshot.uid,
        nextCoachingMessageDue: recordedDue ?? decision.nextCoachingMessageDue,
        parked: isParking(decision.reason),
        coachingEnabled: isCoachingEnabled(snapshot),
        // A recorded due time follows a completed slot: no window was missed.
        missedWindows:
          recordedDue === undefined && missesWindow(decision.reason)
            ? missedWindowsOf(snapshot.dueRank) + 1
            : 0,
        result: RESULT_BY_REASON[decision.reason],
        detail:
          recordedDue !== undefined
            ? "the slot completed: its recorded next due time"
            : snapshot.valid
              ? undefined
              : snapshot.problem,
      });
    }
    await applyWrites(store, recorder, pace, writes);
    if (recorder.results.breakerProbeDue && toDispatch.length > 0) dispatchedWhileProbeDue = true;

    // The position before the page's user at `index`, every user before it being handled.
    const pageIndex = new Map(page.map((snapshot, index) => [snapshot.uid, index]));
    const handledBefore = (index: number) => {
      const previous = page[index - 1];
      return previous ? cursorOf(previous) : position;
    };
    const lastPageOfCap = capacity() <= 0;
    const deferred = new Set<string>();
    // Users beyond the minute's share: not handled, read again after the wait (or by the next step).
    const beyondShare = new Set<string>();
    await mapWithConcurrency(toDispatch, settings.dispatchConcurrency, async (userId, index) => {
      // Everything about a user is decided in dispatch order, synchronously, before any wait:
      // whether the minute's share admits them, and whether their slot at the dispatch pace
      // starts within the budget. So the users left (beyond the share, or deferred for time)
      // are the tail of the page's dispatch order, and no step waits past its budget for a slot
      // (50 calls in flight at a slow pace would otherwise book slots far beyond it).
      if (beyondShare.size > 0) {
        beyondShare.add(userId);
        return;
      }
      const startsAt = pace.dispatches.nextStartMs();
      if (startsAt >= settings.timeBudgetMs) {
        // A user not dispatched stays due: the next step or tick takes it. The first one fixes
        // where this step ends, once the slots booked before it have started (at the budget at
        // the latest), so the next step's dispatches do not overlap this step's.
        const first = deferred.size === 0;
        deferred.add(userId);
        recorder.record(userId, "deferred", "time budget reached");
        if (first) {
          recorder.results.hasMore = true;
          await pace.clock.waitUntil(settings.timeBudgetMs, false);
          end(handledBefore(pageIndex.get(userId) ?? 0));
        }
        return;
      }
      enterMinuteOf(startsAt);
      if (allowance <= 0) {
        beyondShare.add(userId);
        return;
      }
      allowance -= 1;
      await pace.dispatches.take(1, false);
      if (lastPageOfCap && index === toDispatch.length - 1) {
        recorder.results.hasMore = true;
        end(page.length > 0 ? cursorOf(page[page.length - 1] as UserSnapshot) : position);
      }
      await dispatchUser(input, recorder, userId, signal);
    });

    // Users beyond the share were read but not handled: the walk reads them again.
    recorder.results.usersDue -= beyondShare.size;
    const firstDeferred = page.findIndex((snapshot) => deferred.has(snapshot.uid));
    const firstBeyondShare = page.findIndex((snapshot) => beyondShare.has(snapshot.uid));
    const firstLeft = [firstDeferred, firstBeyondShare].filter((index) => index !== -1);
    const handled = firstLeft.length === 0 ? page : page.slice(0, Math.min(...firstLeft));
    const last = handled.at(-1);
    if (last) position = cursorOf(last);
    if (firstDeferred !== -1 || outOfTime()) {
      recorder.results.hasMore = true;
      end(position);
      return position;
    }
    if (firstBeyondShare !== -1) continue;
    if (page.length < limit) {
      end(position);
      return position;
    }
  }
  recorder.results.hasMore = true;
  end(position);
  return position;
}

/**
 * Past its cool-down the breaker lets one probe through, and a processor that does not hold the
 * probe answers `breaker_open` without an LLM call. A tick that found a probe due dispatches its
 * first page as usual (one of those runs takes the probe); before each later page it reads the
 * breaker again, and while it is still not closed (the probe in flight, or failed and the
 * breaker reopened), it gives the rest the retry interval itself, as for an open breaker: the
 * processor would have answered them the same, at the cost of a function invocation and a slot
 * claim each. Once the probe has closed the breaker, dispatching goes on. So an outage costs
 * each step one page of dispatches, not its whole due set, and recovery still serves the users
 * left in the tick. One read per page, only while a probe is due.
 */
async function probeStillPending(input: RunSchedulerInput, recorder: RunRecorder): Promise<boolean> {
  const breaker = await input.store.getLlmBreaker();
  recorder.results.documentsRead += 1;
  return breakerGate({ breaker, now: input.now }) !== "closed";
}
