/**
 * Draining the outbox: ready events in batches, within a time budget, after a sweep for events the
 * ready query cannot see.
 */
import { describeError } from "@/core/errors";
import { mapWithConcurrency } from "../bounded-concurrency";
import type { ReadyCursor } from "../event-ports";
import { type EventProcessorDeps, type EventRunResult, processEvent } from "./process-event";

const DEFAULT_STRAY_SWEEP_LIMIT = 100;

export interface BatchSummary {
  examined: number;
  processed: number;
  retryScheduled: number;
  deadLettered: number;
  skipped: number;
  errored: number;
  batches: number;
  hasMore: boolean;
  /** Events the stray sweep queued; null when the sweep failed (the next drain sweeps again). */
  strayEventsQueued: number | null;
}

/**
 * Runs ready events, oldest ready first, `batchSize` at a time, until none are left or the time
 * budget is spent. Events another worker holds are out of the ready query (their
 * `next_attempt_at` is the lease's end), so concurrent batch runs share the queue instead of
 * colliding; and a drain pages on past whatever it could not take (keyset on ready time and id),
 * so no number of stuck events at the head of the queue stops it from reaching the ones behind.
 * First, a short sweep queues events the ready query cannot see (see `EventStore.queueStrayEvents`).
 * `hasMore` says the budget ended the run with events possibly left: the caller continues (the
 * process-batch route calls itself again, a bounded number of times) instead of leaving them to
 * the next cron. `deadlineMs` (elapsed time) is when every handler must have ended: handlers
 * with long calls (insights) start none that could outlast it.
 */
export async function processEventBatches({
  deps,
  now,
  batchSize,
  concurrency,
  timeBudgetMs,
  deadlineMs,
  elapsedMs,
}: {
  deps: EventProcessorDeps;
  now: () => number;
  batchSize: number;
  concurrency: number;
  timeBudgetMs: number;
  deadlineMs?: number;
  elapsedMs: () => number;
}): Promise<BatchSummary> {
  const remainingMs = deadlineMs === undefined ? undefined : () => deadlineMs - elapsedMs();
  const summary: BatchSummary = {
    examined: 0,
    processed: 0,
    retryScheduled: 0,
    deadLettered: 0,
    skipped: 0,
    errored: 0,
    batches: 0,
    hasMore: false,
    strayEventsQueued: 0,
  };
  const sweepLimit = deps.straySweepLimit ?? DEFAULT_STRAY_SWEEP_LIMIT;
  if (sweepLimit > 0) {
    // Best effort: a failed sweep must not hold up delivery; the next drain sweeps again.
    summary.strayEventsQueued = await deps.store
      .queueStrayEvents({ now: now(), limit: sweepLimit })
      .then((sweep) => sweep.queued)
      .catch(() => null);
  }
  let after: ReadyCursor | undefined;
  // The first batch runs whatever the budget (a run always makes progress); later ones within it.
  while (summary.batches === 0 || elapsedMs() < timeBudgetMs) {
    const events = await deps.store.getReadyEvents({ now: now(), limit: batchSize, after });
    if (events.length === 0) return summary;
    summary.batches += 1;
    const last = events.at(-1);
    if (last) after = { nextAttemptAt: last.next_attempt_at, eventId: last.id };
    // One event's store failure must not stop the others; its lease expires and it is retried.
    // No event starts once the budget is spent (the first of a run excepted, so every run makes
    // progress): one started late would run past the route's maxDuration and be killed. The
    // ones not started stay ready, for the continuation or the next drain.
    const results = await mapWithConcurrency(events, concurrency, (event, index) => {
      if (elapsedMs() >= timeBudgetMs && (summary.batches > 1 || index > 0)) return Promise.resolve(null);
      return processEvent({ deps, eventId: event.id, now: now(), remainingMs }).catch(
        (error): EventRunResult => ({ eventId: event.id, result: "errored", error: describeError(error) }),
      );
    });
    for (const run of results) {
      if (run === null) continue;
      summary.examined += 1;
      if (run.result === "processed") summary.processed += 1;
      else if (run.result === "retry_scheduled") summary.retryScheduled += 1;
      else if (run.result === "dead_lettered") summary.deadLettered += 1;
      else if (run.result === "errored") summary.errored += 1;
      else summary.skipped += 1;
    }
    if (results.includes(null)) break;
  }
  summary.hasMore = true;
  return summary;
}
