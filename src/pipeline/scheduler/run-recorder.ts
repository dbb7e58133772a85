/**
 * The run summary: the record a run stores (at the start, as `running`, and at the end), its
 * counters, its chain step's summary, and each user's outcome (the first MAX_USER_RESULTS).
 */

import type {
  ChainSummary,
  SchedulerResults,
  SchedulerRunRecord,
  SchedulerTrigger,
  UserRunResult,
} from "../scheduler-run-record";
import { currentTraceId } from "../tracing";
import type { ChainStepInput } from "./input";

/** Entries kept in a run's per-user results; a run summary must stay far below Firestore's 1 MiB. */
export const MAX_USER_RESULTS = 500;

const RESULT_IS_ERROR: Readonly<Record<UserRunResult, boolean>> = {
  dispatched: false,
  dispatch_failed: true,
  // Neither accepted nor refused as far as the tick knows; the processor is idempotent per slot.
  dispatch_unconfirmed: false,
  bootstrapped: false,
  rescheduled_outside_window: false,
  skipped_disabled: false,
  skipped_suspended: false,
  deferred_breaker: false,
  invalid_document: true,
  write_failed: true,
  deferred: false,
};

function emptyResults(): SchedulerResults {
  return {
    usersDue: 0,
    usersBootstrapped: 0,
    jobsCreated: 0,
    dispatchesUnconfirmed: 0,
    errors: 0,
    rescheduledOutsideWindow: 0,
    skippedDisabled: 0,
    skippedSuspended: 0,
    deferredByBreaker: 0,
    breakerOpen: false,
    breakerProbeDue: false,
    deferred: 0,
    hasMore: false,
    usersSwept: 0,
    sweepWrapped: false,
    aggregationReads: 0,
    documentsRead: 0,
    documentsWritten: 0,
    usersRanked: 0,
    dispatchesPerMinute: null,
    pacedWaitMs: 0,
  };
}

function chainSummary(chain: ChainStepInput | undefined): ChainSummary | null {
  if (!chain) return null;
  return {
    chainId: chain.chainId,
    step: chain.step,
    attempt: null,
    duplicateOf: null,
    startedAfter: chain.after,
    handledUpTo: chain.after,
    continuation: { status: "none", nextStep: null },
  };
}

export class RunRecorder {
  readonly run: SchedulerRunRecord;

  constructor(runId: string, trigger: SchedulerTrigger, startedAt: number, chain?: ChainStepInput) {
    this.run = {
      runId,
      trigger,
      status: "running",
      startedAt,
      finishedAt: null,
      durationMs: null,
      results: emptyResults(),
      userResults: {},
      userResultsTruncated: false,
      failureReason: null,
      chain: chainSummary(chain),
      // The tick's trace (its span is active here), for going from the runs page to the trace.
      traceId: currentTraceId(),
    };
  }

  get results(): SchedulerResults {
    return this.run.results;
  }

  record(uid: string, result: UserRunResult, detail?: string): void {
    const { results } = this.run;
    if (RESULT_IS_ERROR[result]) results.errors += 1;
    if (result === "dispatched") results.jobsCreated += 1;
    if (result === "dispatch_unconfirmed") results.dispatchesUnconfirmed += 1;
    if (result === "bootstrapped") results.usersBootstrapped += 1;
    if (result === "rescheduled_outside_window") results.rescheduledOutsideWindow += 1;
    if (result === "skipped_disabled") results.skippedDisabled += 1;
    if (result === "skipped_suspended") results.skippedSuspended += 1;
    if (result === "deferred_breaker") results.deferredByBreaker += 1;
    if (result === "deferred") results.deferred += 1;
    if (Object.keys(this.run.userResults).length < MAX_USER_RESULTS) {
      this.run.userResults[uid] = detail ? { result, detail: detail.slice(0, 300) } : { result };
    } else {
      this.run.userResultsTruncated = true;
    }
  }
}
