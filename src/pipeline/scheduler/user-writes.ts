/**
 * The scheduler's own writes on `users`: a due time planned with the outcome it records, and
 * their application in batches at the pace of writes.
 */

import type { UserRunResult } from "../scheduler-run-record";
import type { SchedulerStore, ScheduleUpdate } from "../scheduler-store-ports";
import type { StepPace } from "./pacing";
import type { RunRecorder } from "./run-recorder";

/** The outcome recorded for a user by the reason of the scheduler's decision about them. */
export const RESULT_BY_REASON = {
  outside_window: "rescheduled_outside_window",
  disabled: "skipped_disabled",
  suspended: "skipped_suspended",
  breaker_open: "deferred_breaker",
  invalid_document: "invalid_document",
  bootstrapped: "bootstrapped",
} as const satisfies Record<string, UserRunResult>;

export interface PlannedWrite extends ScheduleUpdate {
  result: UserRunResult;
  detail?: string;
}

/**
 * Writes a page's due times, in batches at the pace of writes on `users`, and records each user's
 * outcome once its write is known. Every user of the page is written: the walk reads a page only
 * when its writes fit in the step's budget at that pace.
 */
export async function applyWrites(
  store: SchedulerStore,
  recorder: RunRecorder,
  pace: StepPace,
  writes: PlannedWrite[],
): Promise<void> {
  for (let start = 0; start < writes.length; start += pace.writes.chunk) {
    const batch = writes.slice(start, start + pace.writes.chunk);
    await pace.writes.take(batch.length);
    const { failed } = await store.setNextDue(batch);
    const failures = new Map(failed.map(({ uid, reason }) => [uid, reason]));
    for (const write of batch) {
      const failure = failures.get(write.uid);
      if (failure) {
        recorder.record(write.uid, "write_failed", failure);
      } else {
        recorder.results.documentsWritten += 1;
        recorder.record(write.uid, write.result, write.detail);
      }
    }
  }
}
