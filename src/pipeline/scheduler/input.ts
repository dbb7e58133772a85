/**
 * What a scheduler run is given: its settings (and production's, derived from the configuration
 * and paced to its LLM ceiling), its collaborators, and the chain step it is, if any.
 */

import type { AppConfig } from "@/config";
import { EXPECTED_LLM_CALLS_PER_RUN } from "@/core/due-slot";
import type { ChainContinuer, Dispatcher, MinuteShare } from "../dispatch-ports";
import type { SchedulerTrigger } from "../scheduler-run-record";
import type { DueCursor, SchedulerStore } from "../scheduler-store-ports";

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
