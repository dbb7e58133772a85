/**
 * What the pipelines need from the outside world. Adapters implement these (Firestore and an
 * in-memory twin that passes the same contract tests; HTTP dispatch); pipelines never import
 * an adapter.
 */
import type { BreakerState } from "@/core/circuit-breaker";
import type { UserSnapshot } from "@/core/user";

export interface ScheduleUpdate {
  uid: string;
  nextCoachingMessageDue: number;
  /**
   * The due time only parks the user (coaching off, or an unreadable document) rather than
   * scheduling a message. Stored as `coachingParkedUntil` equal to the due time, so the
   * `user.coaching.enabled` handler can bring a parked user forward without ever moving a real
   * schedule earlier. Other writes leave the mark alone: it counts only while it equals the due
   * time, so any later due time (from any writer) makes it stale.
   */
  parked?: boolean;
  /**
   * Windows the user has now missed in a row without a message (moved to the next window, or
   * given the retry interval while the breaker is open). The store writes the due time's rank
   * (`coachingDueRank`, core/due-rank.ts) with every due time, that many steps lower, so such a
   * user comes first in their next group of equal due times. 0 or absent: an ordinary rank.
   */
  missedWindows?: number;
}

/** A position in the order the scheduler walks due users: due time, then rank. */
export interface DueCursor {
  due: number;
  rank: number;
}

/** A due user whose document has no numeric rank: written by the journaling app, or before ranks existed. */
export interface UnrankedDueUser {
  uid: string;
  due: number;
}

/**
 * One step of an hour's scheduler chain, claimed with `create()` on
 * `${chainId}_${step}_${attempt}` in `schedulerChainSteps`: exactly one run holds an attempt.
 * An attempt whose lease ran out without completing (its function died) may be taken over by
 * the next attempt number, so a dead step does not block its hour for good.
 */
export interface ChainStepRecord {
  chainId: string;
  step: number;
  attempt: number;
  runId: string;
  claimedAt: number;
  leaseUntil: number;
  status: "running" | "completed";
}

/**
 * The slow sweep over every user by document id that finds users the due-time queries cannot
 * see (no due field, or one of another type). Engine-owned, in `systemState/unscheduledSweep`.
 */
export interface SweepState {
  /** The last user id scanned; null when the next sweep starts a new pass from the first id. */
  cursor: string | null;
  /** When the current pass started from the first id. */
  passStartedAt: number;
  updatedAt: number;
  /**
   * The cron chain whose page the sweep is on, the users that page holds, and how many of them
   * the chain's steps have scanned: each step sweeps in its own slice until the page is done.
   * Absent on a state written by a single run (or before chains swept in slices).
   */
  chain?: { chainId: string; pageSize: number; scanned: number };
}

/**
 * A due slot (`${uid}_${dueAt}`) as the scheduler needs it: whether it is open (an approved
 * message not yet delivered, or a run in progress), and the next due time its completion
 * recorded (null while open, or when the outcome set none).
 */
export interface DueSlotState {
  open: boolean;
  nextCoachingMessageDue: number | null;
}

export interface SchedulerStore {
  /**
   * Users due at or before `now` that carry a numeric rank, ordered by (due time, rank), after
   * `after` in that order (from the first without it), at most `limit`. Users without a numeric
   * due time or without a numeric rank are never returned: Firestore's order on a field leaves
   * out documents that lack it (`countDueUsers` and `scanUnrankedDueUsers` find those). Two
   * users of one group with the same rank (a 40-bit hash: rare) may fall either side of a step's
   * cursor; one left behind stays due and the next tick takes it.
   */
  getDueUsers(query: { now: number; after?: DueCursor; limit: number }): Promise<UserSnapshot[]>;
  /**
   * Users due at or before `now` (count aggregations), and how many of them carry a numeric
   * rank; `billedReads` as Firestore bills them (one per 1,000 index entries, at least one each).
   */
  countDueUsers(query: { now: number }): Promise<{ due: number; ranked: number; billedReads: number }>;
  /**
   * The next `limit` users due at or before `now` in (due time, document id) order after
   * `after`, scanned on their due time and rank alone: how many were scanned, the last position,
   * and those without a numeric rank. `documentsRead`: one per user scanned.
   */
  scanUnrankedDueUsers(query: {
    now: number;
    after: { due: number; uid: string } | null;
    limit: number;
  }): Promise<{
    scanned: number;
    last: { due: number; uid: string } | null;
    unranked: UnrankedDueUser[];
    documentsRead: number;
  }>;
  /** Writes the ordinary rank of each user's due time, touching no other field; deleted users are reported. */
  setDueRanks(users: readonly UnrankedDueUser[]): Promise<{ failed: { uid: string; reason: string }[] }>;
  /** Creates the step's claim; "exists" when that attempt was claimed before (nothing written then). */
  createChainStep(step: ChainStepRecord): Promise<"created" | "exists">;
  /** One attempt's claim, or null when there is none. */
  getChainStep(query: { chainId: string; step: number; attempt: number }): Promise<ChainStepRecord | null>;
  /** Marks a claimed attempt completed, so a late duplicate never runs the step again. */
  completeChainStep(query: { chainId: string; step: number; attempt: number }): Promise<void>;
  /** Users whose `nextCoachingMessageDue` is explicitly null: not yet scheduled. */
  getUnscheduledUsers(query: { limit: number }): Promise<UserSnapshot[]>;
  /**
   * The next users after `after` in document-id order (from the first without it), at most
   * `limit`: how many were scanned, the last id scanned (null when none were left), and, parsed,
   * those whose due time is not a finite number (missing, null, or another type, which is then
   * read as missing). `documentsRead`: one per user scanned, plus one per user returned (read
   * whole after a scan of the due field alone).
   */
  sweepUsers(query: { after: string | null; limit: number }): Promise<{
    scanned: number;
    lastUid: string | null;
    unscheduled: UserSnapshot[];
    documentsRead: number;
  }>;
  /** The sweep's cursor, or null before the first sweep. */
  getSweepState(): Promise<SweepState | null>;
  saveSweepState(state: SweepState): Promise<void>;
  /**
   * Users in total and users whose due time is not a finite number, from two count
   * aggregations, which Firestore bills as one read per 1,000 index entries (`billedReads`).
   */
  countUsers(): Promise<{ total: number; withoutDueTime: number; billedReads: number }>;
  /**
   * The given due slots (`${uid}_${dueAt}`) that exist, by id: open (not completed) or
   * completed with the next due time the completion recorded. One read per id.
   */
  getDueSlots(slotIds: readonly string[]): Promise<Map<string, DueSlotState>>;
  /**
   * Writes due times with their rank (and the parked marker, see `ScheduleUpdate.parked`),
   * touching no other field; a user deleted meanwhile is reported, not recreated.
   */
  setNextDue(updates: readonly ScheduleUpdate[]): Promise<{ failed: { uid: string; reason: string }[] }>;
  /** Creates or replaces the summary of one scheduler run. */
  saveRun(run: SchedulerRunRecord): Promise<void>;
  /** The LLM circuit breaker, shared with the processor; null when it was never tripped. */
  getLlmBreaker(): Promise<BreakerState | null>;
}

export type DispatchOutcome =
  | { ok: true; status: number }
  | {
      ok: false;
      retriable: boolean;
      reason: string;
      /**
       * The call was cut off (timed out or aborted) with no answer: the request may have reached
       * the processor and been accepted. Absent or false: the processor refused it, or it never left.
       */
      unconfirmed?: boolean;
    };

/** Starts processing of one user elsewhere, without waiting for the message to be written. */
export interface Dispatcher {
  /**
   * `signal` aborts the call at the scheduler step's deadline. A call aborted after its request
   * was sent may still have been accepted: harmless, as the processor is idempotent per slot.
   */
  dispatch(job: { userId: string; runId: string; signal?: AbortSignal }): Promise<DispatchOutcome>;
}

/** The next step of a scheduler chain: where it starts in the due order. */
export interface ChainContinuation {
  chainId: string;
  step: number;
  /** The last position the previous step handled; null to start from the first due user. */
  after: DueCursor | null;
  /** A paced chain: how many processor calls the chain has started in the current minute. */
  minuteShare?: MinuteShare | null;
}

/** Processor calls a paced chain started in one UTC minute, handed from a step to the next. */
export interface MinuteShare {
  /** Start of the UTC minute (Unix ms). */
  minute: number;
  dispatched: number;
}

/**
 * Starts the next step of a chain elsewhere (the scheduler route, through the same
 * authenticated path as a cron call) without waiting for it to finish.
 */
export interface ChainContinuer {
  continueChain(next: ChainContinuation): Promise<DispatchOutcome>;
}

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
}
