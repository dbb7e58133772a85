/** The scheduler: how its hourly chain reads, paces and dispatches due users, and its timing checks. */
import { z } from "zod";
import { nonNegativeInt, positiveInt } from "./fields";
import {
  SCHEDULER_CHAIN_LAST_START_MINUTE,
  SCHEDULER_MAX_DURATION_SECONDS,
  SCHEDULER_STEP_MARGIN_MS,
} from "./limits";

export const schedulerEnv = z.object({
  // Defaults from measurements (docs/benchmarks.md: 2,555 dispatches/s to a local processor at
  // 20 in flight). A page is read, then dispatched, waiting for its slowest call before the next
  // read: at 50 in flight and 100 ms a call, pages of 100, 500 and 1,000 dispatched 445, 459 and
  // 444 users/s, so 500 costs nothing in throughput and issues a fifth of the queries of 100
  // (each a Firestore round trip), without holding much in memory.
  SCHEDULER_PAGE_SIZE: positiveInt(500),
  // Per run, and per step of a cron tick's chain. At the bench's 2,555 dispatches/s a 45 s budget
  // dispatches about 115,000 users, so the cap and the budget end a step at about the same point;
  // at any slower real rate (about 455/s at 100 ms a call, see DISPATCH_CONCURRENCY) the budget
  // ends it first and the chain carries on. The old 1,000 left 3,000 of 6,000 New York morning
  // users without their message every day (issue 12).
  SCHEDULER_MAX_USERS_PER_TICK: positiveInt(100_000),
  SCHEDULER_BOOTSTRAP_LIMIT: nonNegativeInt(200),
  // With the timeouts of a dispatch and of the continuation and a margin for the last writes,
  // within the route's 60 s (checked: `schedulerTimingProblems`): 40 + 8 + 5 + 5 = 58 s.
  SCHEDULER_TIME_BUDGET_MS: positiveInt(40_000),
  // Steps of one cron tick's chain (the cron call and its continuations) at most. Time bounds a
  // chain: no step starts after minute SCHEDULER_CHAIN_LAST_START_MINUTE (55) of its hour, and
  // each ends within the route's 60 s, so a chain ends before the next hour's starts. A step that
  // has more to do runs its whole 40 s budget (a chain paced to the LLM ceiling waits within it
  // for the next minute), so a chain takes at most about 55 × 60 / 40 ≈ 83 steps an hour; 100
  // leaves room and still stops a chain whose steps would, by some fault, end early.
  SCHEDULER_MAX_CHAIN_STEPS: positiveInt(100),
  // Writes on `users` (whose `nextCoachingMessageDue` is indexed in sequence, Firestore's
  // ~500 writes/s soft limit) that the scheduler causes: each processor run it starts writes its
  // user's due time once (300/s), and its own reschedules, bootstraps and ranks (150/s): 450/s at
  // most together, with room for the app's writes. 300 dispatches/s drain 80,000 users due at one
  // instant (New York's daily morning users at 1,000,000) in under 5 minutes.
  SCHEDULER_DISPATCHES_PER_SECOND: positiveInt(300),
  SCHEDULER_USER_WRITES_PER_SECOND: positiveInt(150),
  /** Timeout of the call that starts a chain's next step (the route answers 202 before any work). */
  SCHEDULER_CONTINUATION_TIMEOUT_MS: positiveInt(5_000),
  /**
   * Time each chain step reserves, before its due users, for the sweep for users without a
   * numeric due time (only while some user has none), so the sweep keeps its daily pass under a
   * backlog that fills every step. Below SCHEDULER_TIME_BUDGET_MS (checked).
   */
  SCHEDULER_SWEEP_SLICE_MS: positiveInt(4_000),
  /** At most 24, so a user who turns coaching back on without the app's event waits a day at most. */
  SCHEDULER_DISABLED_RECHECK_HOURS: z.coerce.number().int().positive().max(24).default(24),
  /** Ticks per pass of the unscheduled-user sweep; at most 24, so hourly ticks look at every user daily. */
  SCHEDULER_SWEEP_TICKS_PER_PASS: z.coerce.number().int().positive().max(24).default(20),
  SCHEDULER_SWEEP_MIN_PAGE_SIZE: positiveInt(500),
  SCHEDULER_SWEEP_MAX_PAGE_SIZE: positiveInt(50_000),
  // Processor calls in flight. Throughput is concurrency ÷ the latency of one call, measured with
  // the real scheduler and HTTP dispatcher against a local stand-in answering after 100 ms (the
  // processor route answers after its slot claim, a few Firestore round trips): 20 in flight
  // gave 190 dispatches/s, 50 gave 455/s, 100 gave 856/s (at 0 ms: 1,470, 2,750, 4,190/s). 50
  // keeps SCHEDULER_DISPATCHES_PER_SECOND (300/s, the pace that bounds writes on `users`) the
  // limit up to about 165 ms a call, while keeping the burst of processor invocations moderate.
  DISPATCH_CONCURRENCY: positiveInt(50),
  // The processor route answers 202 after its slot claim (a few Firestore round trips; a cold
  // start adds a second or two). Counts toward a step's 60 s (see SCHEDULER_TIME_BUDGET_MS).
  DISPATCH_TIMEOUT_MS: positiveInt(8_000),
});

type SchedulerEnv = z.output<typeof schedulerEnv>;

/**
 * The scheduler's timing must fit its route. A step dispatches until SCHEDULER_TIME_BUDGET_MS;
 * a call started just before may take DISPATCH_TIMEOUT_MS (calls still in flight then are
 * aborted); the next step is started within SCHEDULER_CONTINUATION_TIMEOUT_MS; then the last
 * writes. Summed (the parts overlap at run time, so the sum bounds them), it stays below the
 * route's maxDuration (a paced step's waits, for its minute and the next, count toward its
 * budget). And a chain's last step, started by SCHEDULER_CHAIN_LAST_START_MINUTE, ends before
 * the next hour's chain starts.
 */
export function schedulerTimingProblems(env: SchedulerEnv): string[] {
  const problems: string[] = [];
  const maxDurationMs = SCHEDULER_MAX_DURATION_SECONDS * 1_000;
  const stepMs =
    env.SCHEDULER_TIME_BUDGET_MS +
    env.DISPATCH_TIMEOUT_MS +
    env.SCHEDULER_CONTINUATION_TIMEOUT_MS +
    SCHEDULER_STEP_MARGIN_MS;
  if (stepMs >= maxDurationMs) {
    problems.push(
      `SCHEDULER_TIME_BUDGET_MS (${env.SCHEDULER_TIME_BUDGET_MS}) + DISPATCH_TIMEOUT_MS (${env.DISPATCH_TIMEOUT_MS}) + SCHEDULER_CONTINUATION_TIMEOUT_MS (${env.SCHEDULER_CONTINUATION_TIMEOUT_MS}) + ${SCHEDULER_STEP_MARGIN_MS} ms for the last writes must stay below the scheduler route's maxDuration (${maxDurationMs} ms)`,
    );
  }
  if (env.SCHEDULER_SWEEP_SLICE_MS >= env.SCHEDULER_TIME_BUDGET_MS) {
    problems.push("SCHEDULER_SWEEP_SLICE_MS must be below SCHEDULER_TIME_BUDGET_MS");
  }
  if (SCHEDULER_CHAIN_LAST_START_MINUTE * 60_000 + maxDurationMs >= 3_600_000) {
    problems.push(
      `a chain step started at minute ${SCHEDULER_CHAIN_LAST_START_MINUTE} must end, within the route's maxDuration (${SCHEDULER_MAX_DURATION_SECONDS} s), before the next hour's chain starts`,
    );
  }
  return problems;
}

/** The scheduler's part of the configuration. */
export function schedulerSettings(env: SchedulerEnv) {
  return {
    pageSize: env.SCHEDULER_PAGE_SIZE,
    maxUsersPerTick: env.SCHEDULER_MAX_USERS_PER_TICK,
    bootstrapLimit: env.SCHEDULER_BOOTSTRAP_LIMIT,
    timeBudgetMs: env.SCHEDULER_TIME_BUDGET_MS,
    disabledRecheckMs: env.SCHEDULER_DISABLED_RECHECK_HOURS * 3_600_000,
    sweepTicksPerPass: env.SCHEDULER_SWEEP_TICKS_PER_PASS,
    sweepMinPageSize: env.SCHEDULER_SWEEP_MIN_PAGE_SIZE,
    sweepMaxPageSize: env.SCHEDULER_SWEEP_MAX_PAGE_SIZE,
    dispatchConcurrency: env.DISPATCH_CONCURRENCY,
    dispatchTimeoutMs: env.DISPATCH_TIMEOUT_MS,
    /** From a step's start: processor calls still in flight are aborted then (budget + dispatch timeout). */
    dispatchDeadlineMs: env.SCHEDULER_TIME_BUDGET_MS + env.DISPATCH_TIMEOUT_MS,
    continuationTimeoutMs: env.SCHEDULER_CONTINUATION_TIMEOUT_MS,
    sweepSliceMs: env.SCHEDULER_SWEEP_SLICE_MS,
    /** Steps of one cron tick's chain at most (the cron call is step 0). */
    maxChainSteps: env.SCHEDULER_MAX_CHAIN_STEPS,
    /** No step of a chain starts after this minute of its hour (SCHEDULER_CHAIN_LAST_START_MINUTE). */
    chainLastStartMinute: SCHEDULER_CHAIN_LAST_START_MINUTE,
    /** Processor calls started per second at most (each run writes its user's due time once). */
    dispatchesPerSecond: env.SCHEDULER_DISPATCHES_PER_SECOND,
    /** The scheduler's own writes on `users` per second at most. */
    userWritesPerSecond: env.SCHEDULER_USER_WRITES_PER_SECOND,
    /** How long a chain step's claim holds: beyond the route's maxDuration. */
    chainStepLeaseMs: 2 * SCHEDULER_MAX_DURATION_SECONDS * 1_000,
  };
}
