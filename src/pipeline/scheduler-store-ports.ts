/**
 * What the scheduler reads and writes: due users in their walk order, chain step claims, the
 * unscheduled-users sweep, due slots, due times and run summaries. Firestore and an in-memory
 * twin implement it (both pass `test/adapters/scheduler-store.contract.ts`).
 */
import type { BreakerState } from "@/core/circuit-breaker";
import type { UserSnapshot } from "@/core/user";
import type { SchedulerRunRecord } from "./scheduler-run-record";

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
  /**
   * The user's `coachingConfig.enableCoachingMessages` as the decision read it, stored in the same
   * write as the engine-owned top-level mirror `coachingEnabled` (the metrics count enabled users
   * on it). Absent: the mirror is left as it was.
   */
  coachingEnabled?: boolean;
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
