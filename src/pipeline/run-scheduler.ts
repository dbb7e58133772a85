/**
 * One scheduler tick: bootstrap unscheduled users, walk the due users oldest first (and, inside
 * a group of equal due times, by rank), reschedule the ones that should not get a message now,
 * hand the rest to the processor, and sweep a page of users for those no due-time query can see.
 *
 * A cron tick is a chain of steps: when a step cannot handle every due user within its time
 * budget or cap, it starts the next step through the scheduler route, which carries on after
 * the last position handled, so a backlog is drained within the hour instead of waiting for the
 * next cron call. Each step is claimed with `create()` on a deterministic id (the hour and the
 * step number), so a duplicate cron delivery, or a duplicate continuation, does nothing.
 *
 * Pace. With an LLM ceiling (`LLM_CALLS_PER_MINUTE`) the chain dispatches at most each UTC
 * minute's share of it (`dispatchesPerMinute`: the ceiling ÷ the calls a run is expected to make):
 * a step that has dispatched its minute's share waits for the next minute within its budget, and
 * hands what it used of the current minute to the next step, so a paced chain spans the hour
 * while due users remain; no step starts after the chain's `lastStartAt` (minute 55 of its
 * hour), so a chain ends before the next hour's starts. Writes on `users` are paced too:
 * the scheduler's own writes (`userWritesPerSecond`) and its dispatches (`dispatchesPerSecond`:
 * each processor run writes its user's due time once), so the collection, whose
 * `nextCoachingMessageDue` is indexed in sequence, stays under Firestore's ~500 writes/s. Work a
 * step cannot do within its budget at that pace stays due: the next step or tick takes it.
 *
 * Nothing here relies on a tick running exactly once: Vercel may deliver a cron event twice,
 * overlap a slow run with the next, or drop one. Every write is a due time computed from the
 * user's own settings (re-running it writes the same or an equally valid value), dispatch only
 * starts work that the processor makes idempotent per due slot, and a user the tick could not
 * reach stays due for the next one.
 */

import type { AppConfig } from "@/config";
import { breakerGate } from "@/core/circuit-breaker";
import { missedWindowsOf } from "@/core/due-rank";
import { dueSlotId, EXPECTED_LLM_CALLS_PER_RUN } from "@/core/due-slot";
import { describeError } from "@/core/errors";
import { decideDueUser, decideUnscheduledUser, isParking, missesWindow } from "@/core/scheduler-decisions";
import type { UserSnapshot } from "@/core/user";
import { mapWithConcurrency } from "./bounded-concurrency";
import type {
  ChainContinuer,
  ChainSummary,
  Dispatcher,
  DueCursor,
  MinuteShare,
  SchedulerResults,
  SchedulerRunRecord,
  SchedulerStore,
  SchedulerTrigger,
  ScheduleUpdate,
  SweepState,
  UserRunResult,
} from "./ports";

export interface SchedulerSettings {
  /** Due users read per query. */
  pageSize: number;
  /** Due users handled per run (per step of a chain) at most; the rest wait for the next step or tick. */
  maxUsersPerTick: number;
  /** Unscheduled users bootstrapped per tick at most. */
  bootstrapLimit: number;
  /** Wall time after which the tick stops dispatching, kept below the route's maxDuration. */
  timeBudgetMs: number;
  /**
   * Wall time, from the start, at which processor calls still in flight are aborted (default:
   * the budget + 10 s). The configuration sets the budget + DISPATCH_TIMEOUT_MS and checks that
   * it, the continuation's timeout and the last writes fit the route's maxDuration. Measured on
   * the real clock (a timer), as the route's limit is.
   */
  dispatchDeadlineMs?: number;
  /**
   * How long disabled or unreadable users are parked before the next look. At most 24 h (the
   * configuration enforces it), so a user who turns coaching back on without the app's
   * `user.coaching.enabled` event is still picked up within a day.
   */
  disabledRecheckMs: number;
  /** Processor calls in flight at once. */
  dispatchConcurrency: number;
  /**
   * Ticks one pass of the unscheduled-user sweep should take: each tick scans
   * ceil(users / sweepTicksPerPass) users (within the page bounds below). At most 24 at hourly
   * ticks, so every user is looked at within 24 h; the default 20 leaves slack for missed ticks,
   * ticks that ran out of time, and growth during a pass.
   */
  sweepTicksPerPass?: number;
  /** Users the sweep scans per tick at least (default 500), so small projects finish a pass fast. */
  sweepMinPageSize?: number;
  /**
   * Users the sweep scans per tick at most (default 50,000), to bound one tick's reads and time.
   * The 24 h bound holds while users ≤ 24 × sweepMaxPageSize (1.2 million by default).
   */
  sweepMaxPageSize?: number;
  /**
   * Time each step gives the sweep before its due users (default 4 s): under a backlog that
   * fills every step's budget, the sweep still advances in every step of the chain, so its
   * page per tick, and the daily pass, hold. Only while some user has no numeric due time.
   */
  sweepSliceMs?: number;
  /**
   * Due users one step scans at most for those without a rank (default 10,000), so a count
   * that races concurrent writes cannot make the scan eat the step's budget.
   */
  rankScanMaxUsers?: number;
  /**
   * Processor calls a chain starts in one UTC minute at most (across its steps): the LLM
   * ceiling's share (`dispatchesPerMinuteFor`). Absent or null: no ceiling, no per-minute pace.
   */
  dispatchesPerMinute?: number | null;
  /**
   * Processor calls started per second at most. Each run writes its user's due time once, so this
   * is also the pace of the processor's writes on `users`. Absent: no pace.
   */
  dispatchesPerSecond?: number;
  /** The scheduler's own writes on `users` (reschedules, bootstraps, ranks) per second at most. Absent: no pace. */
  userWritesPerSecond?: number;
}

/**
 * Processor runs one minute's LLM ceiling admits: each run reserves the calls it is expected to
 * make (EXPECTED_LLM_CALLS_PER_RUN) once, so dispatching more in a minute would only have the
 * processor defer the rest (`ceiling_reached`) at the cost of an invocation and a write each.
 */
export function dispatchesPerMinuteFor(ceiling: { callsPerMinute: number } | null): number | null {
  if (!ceiling) return null;
  return Math.max(1, Math.floor(ceiling.callsPerMinute / EXPECTED_LLM_CALLS_PER_RUN));
}

/** The scheduler's settings as production runs them: the configuration's, paced to its LLM ceiling. */
export function schedulerSettingsFromConfig(config: AppConfig): AppConfig["scheduler"] & SchedulerSettings {
  return { ...config.scheduler, dispatchesPerMinute: dispatchesPerMinuteFor(config.llmCeiling) };
}

/**
 * The chain id of the cron tick delivered at `now`: its UTC hour (`cron_2026-11-30T05`). Vercel
 * calls the hourly cron once an hour, sometimes twice; both deliveries get the same id and so
 * meet at the step-0 claim.
 */
export function cronChainId(now: number): string {
  return `cron_${new Date(now).toISOString().slice(0, 13)}`;
}

/**
 * The last instant at which a step of chain `chainId` may start: minute `lastStartMinute` of its
 * hour. A step runs at most the route's maxDuration, so the chain ends before the next hour's.
 */
export function chainLastStartAt({
  chainId,
  lastStartMinute,
}: {
  chainId: string;
  lastStartMinute: number;
}): number {
  return Date.parse(`${chainId.slice("cron_".length)}:00:00.000Z`) + lastStartMinute * 60_000;
}

const SWEEP_DEFAULTS = { ticksPerPass: 20, minPageSize: 500, maxPageSize: 50_000, sliceMs: 4_000 } as const;

/** Dispatch deadline after the budget when the settings name none: the old processor-call timeout. */
const DEFAULT_DISPATCH_GRACE_MS = 10_000;

const DEFAULT_RANK_SCAN_MAX_USERS = 10_000;

/** Users per sweep query; a tick's page is read in queries of this size until it is done or out of time. */
const SWEEP_QUERY_LIMIT = 1_000;

/** One step of a cron tick's chain (absent for a single manual or test run). */
export interface ChainStepInput {
  /** The same for every delivery of one cron tick (`cron_<UTC hour>`), so duplicates meet. */
  chainId: string;
  /** 0 for the cron call itself, n for the n-th continuation. */
  step: number;
  /** Where the previous step stopped in the due order; null from the first due user. */
  after: DueCursor | null;
  /** Steps a chain may have (steps 0 … maxSteps − 1): the bound on one tick's work. */
  maxSteps: number;
  /**
   * How long a claimed step holds its claim: beyond the route's maxDuration, after which a step
   * that has not completed is dead and a later delivery of the same step may take it over.
   */
  stepLeaseMs: number;
  continuer: ChainContinuer;
  /** What the chain has dispatched so far in the current minute (a paced chain), from the step before. */
  minuteShare?: MinuteShare | null;
  /** No next step is started after this instant (`chainLastStartAt`); absent: only `maxSteps` bounds the chain. */
  lastStartAt?: number;
}

export interface RunSchedulerInput {
  store: SchedulerStore;
  dispatcher: Dispatcher;
  settings: SchedulerSettings;
  now: number;
  trigger: SchedulerTrigger;
  runId: string;
  /** Milliseconds since the tick started; injectable so tests can run out the budget. */
  elapsedMs: () => number;
  /**
   * Resolves once `elapsedMs()` has reached `elapsed` (at once if it has): how the step waits for
   * its pace and its minute. Injectable so a virtual clock advances instead of sleeping; by
   * default a timer.
   */
  waitUntil?: (elapsed: number) => Promise<void>;
  /** Source of randomness for bootstrap due times, in [0, 1). */
  random?: () => number;
  /** Caps this run below `settings.maxUsersPerTick` (a manual run over a few users). */
  limit?: number;
  /** The chain step this run is (cron ticks); a run without it is a single step that starts nothing. */
  chain?: ChainStepInput;
}

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

/**
 * Waits on the real clock until `elapsedMs()` reaches `elapsed`. A Node timer counts from the
 * event loop's cached time and may fire a little before a fresh reading of the step's clock
 * reaches its target: the wait goes on until it has, so a pace never starts a unit early and a
 * step waiting for the next minute does not wake in the last millisecond of the old one.
 */
function timerWait(elapsedMs: () => number): (elapsed: number) => Promise<void> {
  return async (elapsed) => {
    let reading = elapsedMs();
    while (reading < elapsed) {
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(elapsed - reading)));
      const previous = reading;
      reading = elapsedMs();
      // A clock that did not move while a timer ran (a test's frozen one) is not waited on forever.
      if (reading <= previous) return;
    }
  };
}

/**
 * A pace of so many units per second on the step's clock: `take(n)` waits for the slot the
 * previous units left and books the next one n / perSecond seconds later. Slots are booked
 * synchronously, so concurrent callers are served in the order they asked. Over any second at
 * most perSecond units start, plus the last caller's own units (callers keep those small).
 */
class Pace {
  private nextAt = 0;

  constructor(
    private readonly perSecond: number | undefined,
    private readonly clock: StepClock,
  ) {}

  /** The largest booking that keeps a second's units within about 10 % of the pace. */
  get chunk(): number {
    return this.perSecond ? Math.max(1, Math.floor(this.perSecond / 10)) : Number.POSITIVE_INFINITY;
  }

  /** Milliseconds `units` take at this pace. */
  durationMs(units: number): number {
    return this.perSecond ? (units * 1_000) / this.perSecond : 0;
  }

  /** When on the step's clock the next unit would start: the end of the last booking, or now. */
  nextStartMs(): number {
    const now = this.clock.elapsedMs();
    return this.perSecond && Number.isFinite(this.perSecond) ? Math.max(this.nextAt, now) : now;
  }

  /** Units this pace lets start from now until the step's clock reads `untilMs` (Infinity without a pace). */
  unitsBefore(untilMs: number): number {
    if (!this.perSecond || !Number.isFinite(this.perSecond)) return Number.POSITIVE_INFINITY;
    const from = Math.max(this.nextAt, this.clock.elapsedMs());
    return Math.max(0, Math.floor(((untilMs - from) * this.perSecond) / 1_000));
  }

  async take(units: number, counted = true): Promise<void> {
    if (!this.perSecond || !Number.isFinite(this.perSecond)) return;
    const startAt = Math.max(this.nextAt, this.clock.elapsedMs());
    this.nextAt = startAt + this.durationMs(units);
    await this.clock.waitUntil(startAt, counted);
  }
}

/** The step's clock: elapsed time, and waiting, counted into the run's `pacedWaitMs`. */
class StepClock {
  constructor(
    readonly elapsedMs: () => number,
    private readonly wait: (elapsed: number) => Promise<void>,
    private readonly results: SchedulerResults,
  ) {}

  /** Waits until `elapsed`; `counted` waits (one at a time, not the dispatches' overlapping ones) add to `pacedWaitMs`. */
  async waitUntil(elapsed: number, counted = true): Promise<void> {
    const before = this.elapsedMs();
    if (elapsed <= before) return;
    await this.wait(elapsed);
    if (counted) {
      this.results.pacedWaitMs =
        (this.results.pacedWaitMs ?? 0) + Math.round(Math.max(0, this.elapsedMs() - before));
    }
  }
}

/** A step's paces: its clock, its own writes on `users`, and its dispatches. */
interface StepPace {
  clock: StepClock;
  writes: Pace;
  dispatches: Pace;
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

class RunRecorder {
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

const RESULT_BY_REASON = {
  outside_window: "rescheduled_outside_window",
  disabled: "skipped_disabled",
  suspended: "skipped_suspended",
  breaker_open: "deferred_breaker",
  invalid_document: "invalid_document",
  bootstrapped: "bootstrapped",
} as const satisfies Record<string, UserRunResult>;

interface PlannedWrite extends ScheduleUpdate {
  result: UserRunResult;
  detail?: string;
}

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
    result: RESULT_BY_REASON[decision.reason],
    detail: snapshot.valid ? undefined : snapshot.problem,
  } satisfies PlannedWrite;
}

/**
 * Writes a page's due times, in batches at the pace of writes on `users`, and records each user's
 * outcome once its write is known. Every user of the page is written: the walk reads a page only
 * when its writes fit in the step's budget at that pace.
 */
async function applyWrites(
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

async function bootstrapUnscheduledUsers(
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

/** Users the scan for unranked due users reads per query (their due time and rank alone). */
const RANK_SCAN_QUERY_LIMIT = 1_000;

/** How many due users lack a rank, from two count aggregations. */
async function countUnrankedDueUsers(input: RunSchedulerInput, recorder: RunRecorder): Promise<number> {
  const counts = await input.store.countDueUsers({ now: input.now });
  recorder.results.aggregationReads += counts.billedReads;
  return counts.due - counts.ranked;
}

/**
 * The due walk orders by (due time, rank), and Firestore's order on the rank leaves out every
 * document without one: due times the journaling app wrote, and those written before ranks
 * existed. Two count aggregations (about one read per 1,000 due users each) tell whether any
 * due user lacks a rank; only then are the due users scanned, on their due time and rank alone,
 * until every unranked one is found, and given the rank of their due time, so the walk that
 * follows sees them. Every due time the engine writes carries a rank, so this runs for
 * app-written due times and, once, for the users of a deployment that predates ranks.
 *
 * The two counts are not one snapshot: a user rescheduled between them (the processor writes
 * hundreds a second at peak) makes them differ with nobody unranked, and a scan for users that
 * do not exist would read the whole due set. So a difference is believed only when a second
 * pair of counts shows it too (the smaller one is taken), and one step scans at most
 * `rankScanMaxUsers` due users (oldest first, as the walk serves them); users beyond are found
 * by a later tick, as older users are served and leave the due set ahead of them. Runs at the
 * first step of a chain; a later step starts behind users ranked here, which the next tick takes.
 */
async function rankUnrankedDueUsers(
  input: RunSchedulerInput,
  recorder: RunRecorder,
  pace: StepPace,
): Promise<void> {
  const { store, settings, now, elapsedMs } = input;
  const outOfTime = () => elapsedMs() >= settings.timeBudgetMs;
  const firstReading = await countUnrankedDueUsers(input, recorder);
  if (firstReading <= 0) return;
  const missing = Math.min(firstReading, await countUnrankedDueUsers(input, recorder));
  if (missing <= 0) return;
  const maxScanned = settings.rankScanMaxUsers ?? DEFAULT_RANK_SCAN_MAX_USERS;
  let found = 0;
  let scanned = 0;
  let after: { due: number; uid: string } | null = null;
  while (found < missing && scanned < maxScanned && !outOfTime()) {
    const limit = Math.min(
      RANK_SCAN_QUERY_LIMIT,
      maxScanned - scanned,
      pace.writes.unitsBefore(settings.timeBudgetMs),
    );
    if (limit <= 0) return;
    const page = await store.scanUnrankedDueUsers({ now, after, limit });
    scanned += page.scanned;
    recorder.results.documentsRead += page.documentsRead;
    for (let start = 0; start < page.unranked.length; start += pace.writes.chunk) {
      const batch = page.unranked.slice(start, start + pace.writes.chunk);
      await pace.writes.take(batch.length);
      const { failed } = await store.setDueRanks(batch);
      const ranked = batch.length - failed.length;
      recorder.results.usersRanked += ranked;
      recorder.results.documentsWritten += ranked;
    }
    found += page.unranked.length;
    if (page.scanned < limit || page.last === null) return;
    after = page.last;
  }
}

/** Outside the window or while the breaker is open, a slot already started must still be finished (or its recorded due time kept). */
const FINISH_OPEN_SLOT_REASONS: ReadonlySet<string> = new Set(["outside_window", "breaker_open"]);

/** What the current slots of a page's users to be rescheduled say, by user id. */
interface CurrentSlots {
  /** Users whose slot is open: dispatched, not rescheduled. */
  open: Set<string>;
  /** Users whose slot completed with a future next due time recorded: that due time is written. */
  recordedDue: Map<string, number>;
}

/**
 * The current slot (`${uid}_${due}`) of each due user that would be rescheduled for being
 * outside the window or for the breaker. An open slot holds an approved message not yet
 * delivered, or a run in progress: rescheduling would move the due time and strand it (an email
 * out with no journal entry, and a second message generated later), so the user is dispatched
 * instead and the processor resumes the slot, window or not; delivering an approved message
 * needs no LLM call. A completed slot whose recorded next due time is still ahead means the run
 * completed it and died before rescheduling the user: that recorded due time is the schedule
 * (a weekly user's next message in 7 days, not tomorrow's window). Only these users' slots are
 * read, one read each, by id.
 */
async function readCurrentSlots(
  input: RunSchedulerInput,
  recorder: RunRecorder,
  decided: { snapshot: UserSnapshot; decision: ReturnType<typeof decideDueUser> }[],
): Promise<CurrentSlots> {
  const slotOwners = new Map<string, string>();
  for (const { snapshot, decision } of decided) {
    const due = snapshot.nextCoachingMessageDue;
    if (decision.action !== "reschedule" || !FINISH_OPEN_SLOT_REASONS.has(decision.reason)) continue;
    if (typeof due !== "number") continue;
    slotOwners.set(dueSlotId({ uid: snapshot.uid, dueAt: due }), snapshot.uid);
  }
  const current: CurrentSlots = { open: new Set(), recordedDue: new Map() };
  if (slotOwners.size === 0) return current;
  const slots = await input.store.getDueSlots([...slotOwners.keys()]);
  recorder.results.documentsRead += slotOwners.size;
  for (const [slotId, slot] of slots) {
    const uid = slotOwners.get(slotId);
    if (uid === undefined) continue;
    if (slot.open) current.open.add(uid);
    else if (slot.nextCoachingMessageDue !== null && slot.nextCoachingMessageDue > input.now) {
      current.recordedDue.set(uid, slot.nextCoachingMessageDue);
    }
  }
  return current;
}

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

/** The longest delay a Node timer holds. */
const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** When, on the step's clock, processor calls still in flight are aborted. */
function dispatchDeadlineMs(settings: SchedulerSettings): number {
  return settings.dispatchDeadlineMs ?? settings.timeBudgetMs + DEFAULT_DISPATCH_GRACE_MS;
}

/** Aborts processor calls still in flight at the step's dispatch deadline (on the real clock). */
function dispatchDeadline(input: RunSchedulerInput): { signal: AbortSignal; clear: () => void } {
  const { settings, elapsedMs } = input;
  const deadlineMs = dispatchDeadlineMs(settings);
  const controller = new AbortController();
  const delayMs = Math.max(0, deadlineMs - elapsedMs());
  // Node runs a timer longer than it can hold (2^31 − 1 ms, about 24 days; Infinity, an unbounded
  // budget in simulations) after 1 ms, which would abort every call: such a deadline is none.
  if (!(delayMs <= MAX_TIMER_DELAY_MS)) return { signal: controller.signal, clear: () => {} };
  const timer = setTimeout(
    () => controller.abort(new Error("the scheduler step's dispatch deadline passed")),
    delayMs,
  );
  // Never keeps a process alive on its own (scripts, simulations).
  timer.unref?.();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/** One processor call, recorded: accepted, refused, or cut off by the deadline without an answer. */
async function dispatchUser(
  input: RunSchedulerInput,
  recorder: RunRecorder,
  userId: string,
  signal: AbortSignal,
): Promise<void> {
  const outcome = await input.dispatcher.dispatch({ userId, runId: input.runId, signal });
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
async function sweepDueUsers(
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

/** The sweep's page for this run: how many users it holds, how many are scanned, and from where. */
interface SweepPage {
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
async function planSweep(input: RunSchedulerInput, recorder: RunRecorder): Promise<SweepPage | null> {
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
async function sweepUnscheduledUsers(
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

/** Attempts at claiming one chain step before giving up (each one a dead run's lease taken over). */
const MAX_CHAIN_STEP_ATTEMPTS = 5;

/**
 * Claims this run's chain step: `create()` of attempt 1, 2, … of `${chainId}_${step}`. Another
 * run holds the step while its attempt is completed or its lease has not run out: then this
 * delivery is a duplicate. An attempt whose lease ran out uncompleted belongs to a run that died
 * (the route's maxDuration is below the lease), so the next attempt number takes it over; no
 * transaction is needed, as exactly one caller can create a given attempt. An attempt that
 * holds this run's own id is this run's: the SDK retries a commit whose answer was lost, and
 * the retry of a `create()` that applied comes back as "already exists".
 */
async function claimChainStep(
  input: RunSchedulerInput,
  chain: ChainStepInput,
): Promise<{ attempt: number } | { heldBy: string }> {
  const { store, runId, now } = input;
  const { chainId, step } = chain;
  let heldBy = "an earlier attempt";
  for (let attempt = 1; attempt <= MAX_CHAIN_STEP_ATTEMPTS; attempt += 1) {
    const record = {
      chainId,
      step,
      attempt,
      runId,
      claimedAt: now,
      leaseUntil: now + chain.stepLeaseMs,
      status: "running" as const,
    };
    // A create() that failed may still have applied (its answer lost after the SDK's own
    // retries): sent once more, it comes back "exists" and the holder's run id says it is this
    // run's. Otherwise a passing failure would lose the step, and with it the rest of the hour's
    // chain (the cron does not call again).
    const created = await store.createChainStep(record).catch(() => store.createChainStep(record));
    if (created === "created") return { attempt };
    const holder = await store.getChainStep({ chainId, step, attempt });
    // Gone between the conflict and the read (a TTL deletion): the attempt after it is free.
    if (!holder) continue;
    if (holder.runId === runId) return { attempt };
    heldBy = holder.runId;
    if (holder.status === "completed" || holder.leaseUntil > now) return { heldBy };
  }
  return { heldBy };
}

/** Pauses before the calls that start a chain's next step again after a passing failure. */
const CONTINUATION_RETRY_BACKOFF_MS = [1_000, 3_000] as const;

/**
 * Starts the next step when due users are left and the chain may grow (in steps, and in time:
 * no step starts after the chain's `lastStartAt`), recording why not otherwise. True when the
 * next step was started: it carries on from `handledUpTo`.
 */
async function continueChain(
  chain: ChainStepInput,
  recorder: RunRecorder,
  handledUpTo: DueCursor | null,
  timing: {
    startsAt: number;
    minuteShare: MinuteShare | null;
    /** The step's clock, for the pause before a repeated call. */
    clock: StepClock;
    /** No repeated call starts at or after this instant on the step's clock (the dispatch deadline). */
    deadlineMs: number;
  },
): Promise<boolean> {
  const summary = recorder.run.chain as ChainSummary;
  summary.handledUpTo = handledUpTo;
  if (!recorder.results.hasMore) {
    summary.continuation = { status: "not_needed", nextStep: null };
    return false;
  }
  const nextStep = chain.step + 1;
  if (nextStep >= chain.maxSteps) {
    summary.continuation = {
      status: "chain_limit",
      nextStep: null,
      detail: `the chain has its ${chain.maxSteps} steps; the next tick takes the rest`,
    };
    return false;
  }
  if (chain.lastStartAt !== undefined && timing.startsAt > chain.lastStartAt) {
    summary.continuation = {
      status: "chain_limit",
      nextStep: null,
      detail: `no step of the chain starts after ${new Date(chain.lastStartAt).toISOString()}; the next tick takes the rest`,
    };
    return false;
  }
  const continuation = {
    chainId: chain.chainId,
    step: nextStep,
    after: handledUpTo,
    ...(timing.minuteShare ? { minuteShare: timing.minuteShare } : {}),
  };
  const start = () =>
    chain.continuer
      .continueChain(continuation)
      .catch((error: unknown) => ({ ok: false as const, retriable: true, reason: describeError(error) }));
  let outcome = await start();
  // A call that failed for a passing reason (a 5xx, a 429, a timeout, a dropped connection) is
  // made again: otherwise one lost request would leave the hour's due users to the next tick.
  // A repeat is harmless: the step is claimed, so a call that did arrive makes the next one a
  // duplicate. Only while the step's dispatch deadline is ahead, so the step's end, checked
  // against the route's maxDuration, still holds (a call takes its timeout at most).
  for (const backoffMs of CONTINUATION_RETRY_BACKOFF_MS) {
    if (outcome.ok || !outcome.retriable) break;
    const retryAt = timing.clock.elapsedMs() + backoffMs;
    if (retryAt >= timing.deadlineMs) break;
    await timing.clock.waitUntil(retryAt, false);
    outcome = await start();
  }
  summary.continuation = outcome.ok
    ? { status: "dispatched", nextStep }
    : { status: "failed", nextStep, detail: outcome.reason.slice(0, 300) };
  return outcome.ok;
}

/**
 * Runs one tick (or one step of a cron tick's chain) and returns its summary, which is also
 * stored (at the start, as `running`, so an operator sees a tick that died, and again at the
 * end). A chain step first claims its step; a duplicate delivery finds it taken, stores a
 * summary saying so and does nothing else. Per-user failures are counted, never thrown; a
 * failure of the store itself fails the run and is rethrown after the summary is saved.
 *
 * A step's time: its sweep slice, then dispatching until the budget; the next step is started
 * as soon as the walk's end is known, while calls are still in flight, and calls still in flight
 * at the dispatch deadline are aborted; then the last writes. The configuration checks that
 * this fits the route's maxDuration.
 */
export async function runScheduler(input: RunSchedulerInput): Promise<SchedulerRunRecord> {
  const { store, settings, now, trigger, runId, elapsedMs, chain } = input;
  const recorder = new RunRecorder(runId, trigger, now, chain);
  const summary = recorder.run.chain;
  let attempt: number | null = null;
  if (chain && summary) {
    const claim = await claimChainStep(input, chain);
    if ("heldBy" in claim) {
      summary.duplicateOf = claim.heldBy;
      recorder.run.status = "completed";
      recorder.run.durationMs = Math.round(elapsedMs());
      recorder.run.finishedAt = now + recorder.run.durationMs;
      await store.saveRun(recorder.run);
      return recorder.run;
    }
    attempt = claim.attempt;
    summary.attempt = attempt;
  }
  recorder.results.dispatchesPerMinute = settings.dispatchesPerMinute ?? null;
  await store.saveRun(recorder.run);
  let failure: unknown;
  const deadline = dispatchDeadline(input);
  const clock = new StepClock(elapsedMs, input.waitUntil ?? timerWait(elapsedMs), recorder.results);
  const pace: StepPace = {
    clock,
    writes: new Pace(settings.userWritesPerSecond, clock),
    dispatches: new Pace(settings.dispatchesPerSecond, clock),
  };
  try {
    const paced = settings.dispatchesPerMinute != null;
    const gate = breakerGate({ breaker: await store.getLlmBreaker(), now: input.now });
    recorder.results.breakerOpen = gate === "open";
    recorder.results.breakerProbeDue = gate === "probe_due";
    const random = input.random ?? Math.random;
    await bootstrapUnscheduledUsers(input, recorder, pace, random);
    if (!chain || chain.step === 0) await rankUnrankedDueUsers(input, recorder, pace);
    const sweep = await planSweep(input, recorder);
    if (sweep) {
      const sliceMs = settings.sweepSliceMs ?? SWEEP_DEFAULTS.sliceMs;
      // A single run has no later steps: its sweep takes the page at once, as before the walk.
      const sliceEnd = chain ? Math.min(elapsedMs() + sliceMs, settings.timeBudgetMs) : settings.timeBudgetMs;
      await sweepUnscheduledUsers(input, recorder, pace, random, sweep, sliceEnd);
    }
    let continuation: Promise<boolean> = Promise.resolve(false);
    let lastShare: MinuteShare | null = null;
    const handledUpTo = await sweepDueUsers(
      input,
      recorder,
      pace,
      chain?.after ?? null,
      deadline.signal,
      (position, minuteShare) => {
        if (summary) summary.handledUpTo = position;
        if (paced) lastShare = minuteShare;
        if (chain) {
          continuation = continueChain(chain, recorder, position, {
            startsAt: now + elapsedMs(),
            minuteShare: paced ? minuteShare : null,
            clock,
            deadlineMs: dispatchDeadlineMs(settings),
          });
        }
      },
    );
    if (summary) summary.handledUpTo = handledUpTo;
    const continued = await continuation;
    // The chain's last step goes on with the sweep's page in the time it has left; a page the
    // pace of writes left unfinished goes on in a next step, so a pass still takes its ticks.
    if (!continued && sweep) {
      await sweepUnscheduledUsers(input, recorder, pace, random, sweep, settings.timeBudgetMs);
      if (chain && summary?.continuation.status === "not_needed" && sweep.scanned < sweep.pageSize) {
        recorder.results.hasMore = true;
        await continueChain(chain, recorder, handledUpTo, {
          startsAt: now + elapsedMs(),
          minuteShare: lastShare,
          clock,
          deadlineMs: dispatchDeadlineMs(settings),
        });
      }
    }
    if (chain && attempt !== null) {
      await store.completeChainStep({ chainId: chain.chainId, step: chain.step, attempt });
    }
    recorder.run.status = "completed";
  } catch (error) {
    failure = error;
    recorder.run.status = "failed";
    recorder.run.failureReason = describeError(error);
  } finally {
    deadline.clear();
  }
  recorder.run.durationMs = Math.round(elapsedMs());
  recorder.run.finishedAt = now + recorder.run.durationMs;
  await store.saveRun(recorder.run);
  if (failure) throw failure;
  return recorder.run;
}
