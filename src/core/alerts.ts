/**
 * The operator's alerts (issue 15), their conditions: which are active, given figures the engine
 * reads cheaply (a few aggregations and single documents, none per user), and what evaluations
 * remember between them. Pure: `now` is passed in; the adapter reads, this module decides. What
 * a verdict does to the stored alerts is `alert-lifecycle.ts`; what is posted, `alert-text.ts`.
 */
import { SCHEDULER_STALE_AFTER_MS } from "./liveness";
import { HOUR_MS, HOUR_SETTLED_AFTER_MS, hourKey, hourStartOf } from "./metrics-hours";
import type { RollupCount } from "./metrics-snapshot";

export const ALERT_CONDITIONS = [
  "failure_rate",
  "dead_letters_growing",
  "outbox_backlog",
  "llm_breaker_open",
  "scheduler_stale",
  "ticks_undrained",
  "llm_ceiling_saturated",
  "acute_risk",
  "metrics_counts_failing",
] as const;

export type AlertCondition = (typeof ALERT_CONDITIONS)[number];

/** The thresholds: fixed, named here so docs/operations.md and the tests say the same. */
export const ALERT_THRESHOLDS = {
  /** More than this share of the last hour's generation attempts failed… */
  failureRate: 0.05,
  /** …out of at least this many attempts (a quiet hour's one failure is no outage). */
  failureMinAttempts: 20,
  /** The dead letters grew within this long (since an evaluation that saw fewer). */
  deadLetterGrowthHoldMs: 30 * 60_000,
  /**
   * A pending event has been ready (its `next_attempt_at` passed) for longer than this and no run
   * took it. Readiness, not age: an event waiting out its retry backoff, or a dead letter just
   * replayed (old `created_at`, ready now), is no backlog.
   */
  backlogAgeMs: 15 * 60_000,
  /** No scheduler run started for this long: the hourly cron missed a tick (as `/api/health` says). */
  schedulerStaleMs: SCHEDULER_STALE_AFTER_MS,
  /** This many hourly chains in a row ended with due users left over. */
  undrainedTicks: 3,
  /** Of the last `ceilingWindowMinutes` full minutes, this many used the whole LLM ceiling. */
  ceilingSaturatedMinutes: 4,
  ceilingWindowMinutes: 5,
  /** Generation attempts assessed acute risk in the last hour above this (docs/generation.md "Safety"). */
  acuteRiskLastHour: 0,
  /** The newest rolled-up hour is more than this many hours behind the newest settled one. */
  metricsHoursBehind: 3,
} as const;

/** A figure the evaluator could not read: the conditions resting on it keep their alerts as they are. */
export type Reading<Value> = { ok: true; value: Value } | { ok: false };

/** What one evaluation read. */
export interface AlertFigures {
  /** Generation attempts stored in the last hour (`coachingMessages` by `createdAt`), and the failed ones. */
  lastHour: Reading<{ attempts: number; failed: number }>;
  deadLetters: Reading<number>;
  /** The earliest `next_attempt_at` at or before now of a pending event (ready since then); null when none is ready. */
  oldestReadyAt: Reading<number | null>;
  breakerOpen: Reading<boolean>;
  latestSchedulerRunAt: Reading<number | null>;
  /** The last full minutes' calls against the ceiling's limit; null when no ceiling is set. */
  ceilingMinutes: Reading<{ calls: number; limit: number }[] | null>;
  /** Generation attempts stored in the last hour whose entries the model read as acute risk. */
  acuteRiskLastHour: Reading<number>;
  /**
   * The newest rolled-up hour (`metricsHourly`) and the counts its rollup marked as failed (none
   * on an hour written before the marker); null before the first hour is rolled up.
   */
  newestMetricsHour: Reading<{ hourStart: number; countsFailed: readonly RollupCount[] } | null>;
}

/** What evaluations remember between them (`alertState/evaluation`). */
export interface AlertMemory {
  /** The first evaluation ever: a scheduler that never ran is stale only this long after it. */
  firstEvaluatedAt: number | null;
  /** The dead letters counted by the last evaluation that read them. */
  deadLetters: number | null;
  /** When an evaluation last saw more dead letters than the one before, and by how many. */
  deadLettersGrewAt: number | null;
  deadLettersGrewBy: number;
  /** Chains of hourly ticks that ended with due users left over, in a row, up to the last one seen. */
  undrained: { lastChainId: string | null; streak: number };
}

export const EMPTY_ALERT_MEMORY: AlertMemory = {
  firstEvaluatedAt: null,
  deadLetters: null,
  deadLettersGrewAt: null,
  deadLettersGrewBy: 0,
  undrained: { lastChainId: null, streak: 0 },
};

/** The end of a scheduler chain as the tick that ran it reports it (the last step of an hour's chain). */
export interface ChainEnd {
  chainId: string;
  /** Due users were left for the next hour's chain (or the step failed). */
  undrained: boolean;
}

/** A condition's verdict: active with a one-line summary of the figures, inactive, or unknown. */
export type ConditionVerdict =
  | { state: "active"; summary: string }
  | { state: "inactive" }
  | { state: "unknown" };

const percent = (share: number) => `${Math.round(share * 1_000) / 10} %`;
const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`;

/**
 * The memory after an evaluation: the first evaluation's time, the dead letters counted and
 * whether they grew, and the undrained streak moved by a chain that ended (counted once per
 * chain, whichever evaluator saw it).
 */
export function nextAlertMemory({
  memory,
  figures,
  chainEnd,
  now,
}: {
  memory: AlertMemory;
  figures: Pick<AlertFigures, "deadLetters">;
  chainEnd: ChainEnd | null;
  now: number;
}): AlertMemory {
  const next: AlertMemory = {
    ...memory,
    firstEvaluatedAt: memory.firstEvaluatedAt ?? now,
    undrained: { ...memory.undrained },
  };
  if (figures.deadLetters.ok) {
    const count = figures.deadLetters.value;
    if (memory.deadLetters !== null && count > memory.deadLetters) {
      next.deadLettersGrewAt = now;
      next.deadLettersGrewBy = count - memory.deadLetters;
    }
    next.deadLetters = count;
  }
  if (chainEnd && chainEnd.chainId !== memory.undrained.lastChainId) {
    next.undrained = {
      lastChainId: chainEnd.chainId,
      streak: chainEnd.undrained ? memory.undrained.streak + 1 : 0,
    };
  }
  return next;
}

/**
 * The fields an evaluation changed: what it writes (nothing when it learnt nothing new), so a
 * concurrent evaluator's other fields stand.
 */
export function memoryPatch(before: AlertMemory, after: AlertMemory): Partial<AlertMemory> {
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(after) as (keyof AlertMemory)[]) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) patch[key] = after[key];
  }
  return patch as Partial<AlertMemory>;
}

/** Each condition's verdict from the figures read now and the memory after this evaluation. */
export function evaluateConditions({
  figures,
  memory,
  now,
}: {
  figures: AlertFigures;
  memory: AlertMemory;
  now: number;
}): Record<AlertCondition, ConditionVerdict> {
  const inactive: ConditionVerdict = { state: "inactive" };
  const unknown: ConditionVerdict = { state: "unknown" };
  const verdict = <Value>(reading: Reading<Value>, decide: (value: Value) => ConditionVerdict) =>
    reading.ok ? decide(reading.value) : unknown;
  return {
    failure_rate: verdict(figures.lastHour, ({ attempts, failed }) =>
      attempts >= ALERT_THRESHOLDS.failureMinAttempts && failed / attempts > ALERT_THRESHOLDS.failureRate
        ? {
            state: "active",
            summary: `${percent(failed / attempts)} of the last hour's generation attempts failed (${failed} of ${attempts})`,
          }
        : inactive,
    ),
    dead_letters_growing: verdict(figures.deadLetters, (count) =>
      memory.deadLettersGrewAt !== null &&
      now - memory.deadLettersGrewAt < ALERT_THRESHOLDS.deadLetterGrowthHoldMs
        ? {
            state: "active",
            summary: `dead letters grew by ${memory.deadLettersGrewBy} to ${count}`,
          }
        : inactive,
    ),
    outbox_backlog: verdict(figures.oldestReadyAt, (readyAt) =>
      readyAt !== null && now - readyAt > ALERT_THRESHOLDS.backlogAgeMs
        ? { state: "active", summary: `the oldest ready outbox event has waited ${minutes(now - readyAt)}` }
        : inactive,
    ),
    llm_breaker_open: verdict(figures.breakerOpen, (open) =>
      open
        ? { state: "active", summary: "the LLM circuit breaker is open: no LLM calls are made" }
        : inactive,
    ),
    scheduler_stale: verdict(figures.latestSchedulerRunAt, (startedAt) => {
      if (startedAt !== null) {
        return now - startedAt > ALERT_THRESHOLDS.schedulerStaleMs
          ? { state: "active", summary: `no scheduler run started for ${minutes(now - startedAt)}` }
          : inactive;
      }
      const since = memory.firstEvaluatedAt ?? now;
      return now - since > ALERT_THRESHOLDS.schedulerStaleMs
        ? { state: "active", summary: `no scheduler run recorded in ${minutes(now - since)}` }
        : inactive;
    }),
    ticks_undrained:
      memory.undrained.streak >= ALERT_THRESHOLDS.undrainedTicks
        ? {
            state: "active",
            summary: `${memory.undrained.streak} hourly scheduler chains in a row ended with due users left over`,
          }
        : inactive,
    llm_ceiling_saturated: verdict(figures.ceilingMinutes, (perMinute) => {
      if (perMinute === null) return inactive;
      const full = perMinute.filter((minute) => minute.limit > 0 && minute.calls >= minute.limit).length;
      return full >= ALERT_THRESHOLDS.ceilingSaturatedMinutes
        ? {
            state: "active",
            summary: `the global LLM ceiling was full in ${full} of the last ${perMinute.length} minutes`,
          }
        : inactive;
    }),
    // A count only: the user pages name the users; no user id or journal text reaches the alert.
    acute_risk: verdict(figures.acuteRiskLastHour, (count) =>
      count > ALERT_THRESHOLDS.acuteRiskLastHour
        ? {
            state: "active",
            summary: `${count} generation attempt${count === 1 ? "" : "s"} in the last hour read acute risk in a user's entries`,
          }
        : inactive,
    ),
    // The newest hour's age and marker, never the figures it lacks (an older version's hour lacks
    // them with nothing failed). The rollup writes the newest settled hour first, beside every
    // tick and outbox drain: hours behind means it fails whole (an index of the hour's counts
    // missing, say) even while the scheduler runs.
    metrics_counts_failing: verdict(figures.newestMetricsHour, (hour) => {
      if (hour === null) return inactive;
      const key = hourKey(hour.hourStart);
      const newestSettled = hourStartOf(now - HOUR_SETTLED_AFTER_MS) - HOUR_MS;
      if (newestSettled - hour.hourStart > ALERT_THRESHOLDS.metricsHoursBehind * HOUR_MS) {
        return {
          state: "active",
          summary: `the metrics rollup has written no hour since ${key} (see the "metrics rollup failed" log lines)`,
        };
      }
      const failed = (count: RollupCount) => hour.countsFailed.includes(count);
      if (failed("snapshot")) {
        return {
          state: "active",
          summary: `the metrics rollup could not take the users snapshot for the hour ${key} (see the "metrics snapshot unreadable" log lines)`,
        };
      }
      return failed("usersByFlag")
        ? {
            state: "active",
            summary: `the metrics rollup could not count users by the enable flag for the hour ${key} (is the coachingEnabled + suspendUntil index deployed?)`,
          }
        : inactive;
    }),
  };
}
