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
}

export interface SchedulerStore {
  /**
   * Users with `after < nextCoachingMessageDue <= now` (no lower bound without `after`),
   * ordered by due time, at most `limit`. Users without a numeric due time are never returned.
   */
  getDueUsers(query: { now: number; after?: number; limit: number }): Promise<UserSnapshot[]>;
  /** Users whose due time is exactly `at`: the rest of a group of equal due times cut by a page. */
  getUsersDueAt(query: { at: number; limit: number }): Promise<UserSnapshot[]>;
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
   * Of the given due-slot ids (`${uid}_${dueAt}`), those whose slot exists and is not completed:
   * an approved message waiting for delivery or a run in progress. One read per id.
   */
  getOpenSlots(slotIds: readonly string[]): Promise<Set<string>>;
  /**
   * Writes due times (and the parked marker, see `ScheduleUpdate.parked`), touching no other
   * field; a user deleted meanwhile is reported, not recreated.
   */
  setNextDue(updates: readonly ScheduleUpdate[]): Promise<{ failed: { uid: string; reason: string }[] }>;
  /** Creates or replaces the summary of one scheduler run. */
  saveRun(run: SchedulerRunRecord): Promise<void>;
  /** The LLM circuit breaker, shared with the processor; null when it was never tripped. */
  getLlmBreaker(): Promise<BreakerState | null>;
}

export type DispatchOutcome =
  | { ok: true; status: number }
  | { ok: false; retriable: boolean; reason: string };

/** Starts processing of one user elsewhere, without waiting for the message to be written. */
export interface Dispatcher {
  dispatch(job: { userId: string; runId: string }): Promise<DispatchOutcome>;
}

export type SchedulerTrigger = "cron" | "manual" | "test";

export interface SchedulerResults {
  /** Users found with a due time at or before now (read this tick). */
  usersDue: number;
  /** Users given their first due time. */
  usersBootstrapped: number;
  /** Processor calls accepted. */
  jobsCreated: number;
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
  /** Due users left for the next tick because the per-tick cap or time budget ran out. */
  deferred: number;
  /** Whether more due users may be waiting (cap or time budget reached). */
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
}

export type UserRunResult =
  | "dispatched"
  | "dispatch_failed"
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
}
