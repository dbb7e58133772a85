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
  /** Writes due times, touching no other field; a user deleted meanwhile is reported, not recreated. */
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
  /** User documents this run read from the store. */
  documentsRead: number;
  /** User documents this run wrote. */
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
