/** The outbox that delivers events (its batches, retries, leases and drain timing) and the retention cleanup. */
import { z } from "zod";
import { positiveInt } from "./fields";
import {
  EVENT_CONTINUATION_TIMEOUT_MS,
  EVENT_DRAIN_MARGIN_MS,
  EVENT_HANDLER_DEADLINE_MS,
  EVENTS_MAX_DURATION_SECONDS,
} from "./limits";

export const outboxEnv = z.object({
  EVENT_BATCH_SIZE: positiveInt(20),
  EVENT_CONCURRENCY: positiveInt(5),
  // Retriable failures (Resend down, 429s) are retried until the event is EVENT_MAX_AGE_HOURS
  // old, with a backoff capped at EVENT_RETRY_MAX_MS (30 s, 1 min, … 1 h): about 40 tries a day.
  // EVENT_MAX_RETRIES caps the attempts whatever the age, above that, so it ends runs that never
  // report back (killed), which back off the same way; at least 1, so a killed run is retried.
  EVENT_MAX_RETRIES: positiveInt(50),
  // At most 23 h: Resend keeps an idempotency key 24 h, so every retry of an email stays within
  // the first attempt's key (past that, see the delivery's `outcomeUnknownSince` guard).
  EVENT_MAX_AGE_HOURS: z.coerce.number().int().positive().max(23).default(23),
  EVENT_RETRY_BASE_MS: positiveInt(30_000),
  EVENT_RETRY_MAX_MS: positiveInt(3_600_000),
  // A claim outlives the drain run that made it (killed at the route's maxDuration at the latest),
  // so no second worker takes over an event whose run is still alive.
  EVENT_LEASE_MS: positiveInt(120_000).refine(
    (leaseMs) => leaseMs > EVENTS_MAX_DURATION_SECONDS * 1_000,
    `must be longer than the drain route's maxDuration (${EVENTS_MAX_DURATION_SECONDS} s = ${EVENTS_MAX_DURATION_SECONDS * 1_000} ms), so a live run keeps its event`,
  ),
  // No event starts after the budget; one started just before it ends within RESEND_TIMEOUT_MS,
  // PUSH_TIMEOUT_MS and a few writes, then the continuation call: 35 + 10 + 5 + 5 + 5 = 60 s
  // (checked). Insights events make LLM calls (LLM_TIMEOUT_MS each): they start none that could
  // end after 50 s.
  EVENT_TIME_BUDGET_MS: positiveInt(35_000),
  /** Times a drain that ran out of budget with work left calls itself again (each call: one more drain). */
  EVENT_MAX_CONTINUATIONS: z.coerce.number().int().nonnegative().max(10).default(4),

  RETENTION_DAYS: positiveInt(30),
  CLEANUP_MAX_DELETES: positiveInt(5_000),
});

/** The outbox's settings and the timeouts of the calls a drain makes (from the channels' and the LLM's). */
type DrainEnv = z.output<typeof outboxEnv> & {
  RESEND_TIMEOUT_MS: number;
  PUSH_TIMEOUT_MS: number;
  LLM_TIMEOUT_MS: number;
};

/**
 * A drain must end within its route's maxDuration: it starts no event after EVENT_TIME_BUDGET_MS,
 * one started just before ends within RESEND_TIMEOUT_MS, PUSH_TIMEOUT_MS and its writes, then the continuation is
 * called. Killed mid-run, every event in flight would lose its attempt and wait out its lease.
 * The insights handler's LLM calls are bounded by the handler deadline instead (it starts none
 * that could end after it), so one call must fit in it, or insights events would never call.
 */
export function eventTimingProblems(env: DrainEnv): string[] {
  const maxDurationMs = EVENTS_MAX_DURATION_SECONDS * 1_000;
  const drainMs =
    env.EVENT_TIME_BUDGET_MS +
    env.RESEND_TIMEOUT_MS +
    env.PUSH_TIMEOUT_MS +
    EVENT_CONTINUATION_TIMEOUT_MS +
    EVENT_DRAIN_MARGIN_MS;
  const problems: string[] = [];
  if (drainMs > maxDurationMs) {
    problems.push(
      `EVENT_TIME_BUDGET_MS (${env.EVENT_TIME_BUDGET_MS}) + RESEND_TIMEOUT_MS (${env.RESEND_TIMEOUT_MS}) + PUSH_TIMEOUT_MS (${env.PUSH_TIMEOUT_MS}) + ${EVENT_CONTINUATION_TIMEOUT_MS} ms for the continuation + ${EVENT_DRAIN_MARGIN_MS} ms for the last writes must not exceed the drain route's maxDuration (${maxDurationMs} ms)`,
    );
  }
  if (env.LLM_TIMEOUT_MS >= EVENT_HANDLER_DEADLINE_MS) {
    problems.push(
      `LLM_TIMEOUT_MS (${env.LLM_TIMEOUT_MS}) must be below the drain's handler deadline (${EVENT_HANDLER_DEADLINE_MS} ms: the drain route's maxDuration less ${EVENT_CONTINUATION_TIMEOUT_MS} ms for the continuation and ${EVENT_DRAIN_MARGIN_MS} ms for the last writes), or journal insights events could never make an LLM call`,
    );
  }
  return problems;
}

/** The outbox's and the cleanup's part of the configuration. */
export function outboxSettings(env: DrainEnv) {
  return {
    events: {
      batchSize: env.EVENT_BATCH_SIZE,
      concurrency: env.EVENT_CONCURRENCY,
      maxRetries: env.EVENT_MAX_RETRIES,
      baseDelayMs: env.EVENT_RETRY_BASE_MS,
      maxDelayMs: env.EVENT_RETRY_MAX_MS,
      /** Retriable failures are retried until the event is this old (since created or requeued). */
      maxAgeMs: env.EVENT_MAX_AGE_HOURS * 3_600_000,
      leaseMs: env.EVENT_LEASE_MS,
      timeBudgetMs: env.EVENT_TIME_BUDGET_MS,
      /** Time from a drain's start by which its handlers must have ended (see EVENT_HANDLER_DEADLINE_MS). */
      handlerDeadlineMs: EVENT_HANDLER_DEADLINE_MS,
      maxContinuations: env.EVENT_MAX_CONTINUATIONS,
      /** Each Resend call's timeout (RESEND_TIMEOUT_MS), part of a drain's timing whether email is on or off. */
      emailTimeoutMs: env.RESEND_TIMEOUT_MS,
    },
    cleanup: {
      retentionMs: env.RETENTION_DAYS * 24 * 3_600_000,
      maxDeletes: env.CLEANUP_MAX_DELETES,
    },
  };
}
