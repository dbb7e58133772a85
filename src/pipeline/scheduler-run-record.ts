/** The summary a scheduler run stores (`schedulerRuns`): its figures, its chain step, and each user's outcome. */
import type { DueCursor } from "./scheduler-store-ports";

/** What a chained run did about the next step. */
export type ContinuationStatus =
  /** The due users were all handled: no next step. */
  | "not_needed"
  /** The next step was started. */
  | "dispatched"
  /**
   * More due users wait, but the chain reached its bound (its step count, or the last minute of
   * the hour at which a step may start): the next hour's chain takes them.
   */
  | "chain_limit"
  /** Starting the next step failed (`detail`); the next hour's chain takes the rest. */
  | "failed"
  /** This run failed, or was a duplicate delivery: it starts nothing. */
  | "none";

export interface ChainSummary {
  chainId: string;
  step: number;
  /** The attempt number of this step's claim (above 1 after a dead attempt was taken over). */
  attempt: number | null;
  /** The run holding this step when this delivery found it taken (a duplicate delivery, which did nothing). */
  duplicateOf: string | null;
  /** Where this step started in the due order. */
  startedAfter: DueCursor | null;
  /** The last position this step handled: where the next step starts. */
  handledUpTo: DueCursor | null;
  continuation: { status: ContinuationStatus; nextStep: number | null; detail?: string };
}

/** `continuation`: a later step of a cron tick's chain, started by the step before it. */
export type SchedulerTrigger = "cron" | "continuation" | "manual" | "test";

export interface SchedulerResults {
  /** Users found with a due time at or before now (read this tick). */
  usersDue: number;
  /** Users given their first due time. */
  usersBootstrapped: number;
  /** Processor calls accepted. */
  jobsCreated: number;
  /**
   * Processor calls aborted at the step's deadline without an answer: the processor may or may
   * not have accepted them (an accepted one runs; a user it never got stays due).
   */
  dispatchesUnconfirmed: number;
  /** Per-user failures: dispatch failures, unreadable documents, failed writes. */
  errors: number;
  /** Due users moved to their next window without a message. */
  rescheduledOutsideWindow: number;
  /** Due or unscheduled users with coaching disabled, parked until the next re-check. */
  skippedDisabled: number;
  /** Due users who are suspended, parked until `suspendUntil`. */
  skippedSuspended: number;
  /** Due users given the retry interval without an LLM call because the circuit breaker is open. */
  deferredByBreaker: number;
  /** Whether the LLM circuit breaker was open (cool-down not over) at the start of the tick. */
  breakerOpen: boolean;
  /**
   * Whether the breaker was open past its cool-down (a probe due) at the start of the tick: the
   * first page was dispatched (one run takes the probe), later pages only once it closed.
   */
  breakerProbeDue: boolean;
  /** Due users left for the next tick because the per-tick cap or time budget ran out. */
  deferred: number;
  /**
   * Whether more due users may be waiting (cap, time budget or the pace reached), or, in a chain,
   * the sweep's page for users without a due time is unfinished: either way the chain goes on.
   */
  hasMore: boolean;
  /** Users scanned by the sweep for users without a numeric due time (also in `documentsRead`). */
  usersSwept: number;
  /** Whether the sweep reached the last user id this tick; the next sweep starts from the first. */
  sweepWrapped: boolean;
  /** Reads billed for the count aggregations that decide whether the sweep runs (not in `documentsRead`). */
  aggregationReads: number;
  /** Documents this run read from the store (users, slots, the sweep's state). */
  documentsRead: number;
  /** Documents this run wrote (users and the sweep's state). */
  documentsWritten: number;
  /** Due users without a numeric rank (app-written or older due times) given one, so the ranked walk sees them. */
  usersRanked: number;
  /**
   * Processor calls this step could start in its minute, its share of the LLM ceiling
   * (`LLM_CALLS_PER_MINUTE` ÷ the calls a run is expected to make); null without a ceiling.
   * Optional: summaries stored before pacing lack it.
   */
  dispatchesPerMinute?: number | null;
  /**
   * Milliseconds this step waited: for its minute (a paced chain's next step), for the pace of
   * writes on `users` and of dispatches, and for the next minute before starting the next step.
   */
  pacedWaitMs?: number;
}

export type UserRunResult =
  | "dispatched"
  | "dispatch_failed"
  | "dispatch_unconfirmed"
  | "bootstrapped"
  | "rescheduled_outside_window"
  | "skipped_disabled"
  | "skipped_suspended"
  | "deferred_breaker"
  | "invalid_document"
  | "write_failed"
  | "deferred";

export interface SchedulerRunRecord {
  runId: string;
  trigger: SchedulerTrigger;
  status: "running" | "completed" | "failed";
  startedAt: number;
  finishedAt: number | null;
  durationMs: number | null;
  results: SchedulerResults;
  /** Outcome per user id, capped in size; `userResultsTruncated` says when entries were left out. */
  userResults: Record<string, { result: UserRunResult; detail?: string }>;
  userResultsTruncated: boolean;
  failureReason: string | null;
  /** The chain step this run was (cron runs and their continuations); null for a single run. */
  chain: ChainSummary | null;
  /**
   * The OpenTelemetry trace of the run (its dispatches and their processor runs join it); null
   * when tracing is off. Optional: summaries stored before tracing lack it.
   */
  traceId?: string | null;
}
