import { type EngagementRows, engagementDaysToCount, engagementIsFinal } from "@/core/engagement";
import { type MetricsFigures, sumFigures } from "@/core/metrics";
import {
  DAY_MS,
  dayIsComplete,
  dayKey,
  dayStartOf,
  HOUR_MS,
  hourKey,
  hourStartOf,
  hoursToRollUp,
} from "@/core/metrics-hours";
import { MAX_MODELS_STORED, withBoundedModels } from "@/core/metrics-llm";
import {
  daySnapshot,
  type MetricsSnapshot,
  type RollupCount,
  type UserMirrorCounts,
} from "@/core/metrics-snapshot";
import type { SchedulerRunRecord } from "./scheduler-run-record";

/** `metricsHourly/{YYYY-MM-DDTHH}`: one completed UTC hour's figures. */
export interface HourlyMetrics {
  hourStart: number;
  computedAt: number;
  figures: MetricsFigures;
  /** The users and the outbox's queue when the hour was rolled up (not a sum). */
  snapshot: MetricsSnapshot | null;
  /**
   * The counts that failed, when some did (the snapshot: `snapshot` is null; the counts by the
   * enable flag: the snapshot lacks them); absent when all were taken, and on hours written before
   * the marker. The `metrics_counts_failing` alert rests on it, never on the figures missing.
   */
  countsFailed?: RollupCount[];
}

/** `metricsDaily/{YYYY-MM-DD}`: the sum of a UTC day's hourly documents. */
export interface DailyMetrics {
  dayStart: number;
  computedAt: number;
  /** Hourly documents summed: 24 unless some hour fell out of the lookback uncounted. */
  hours: number;
  missingHours: string[];
  figures: MetricsFigures;
  /** The day's last hourly snapshot. */
  snapshot: MetricsSnapshot | null;
}

/** `metricsEngagement/{YYYY-MM-DD}`: engagement of the messages sent that UTC day. */
export interface EngagementDay extends EngagementRows {
  dayStart: number;
  computedAt: number;
  /** Counted 7 days after the day ended: never counted again. */
  final: boolean;
}

/** What the rollup needs from the store: counts of one hour or day, and the rollup documents. */
export interface MetricsRollupStore {
  existingHours(range: { from: number; to: number }): Promise<Set<string>>;
  countHour(hourStart: number): Promise<MetricsFigures>;
  /** The snapshot without the counts by the enable flag's mirror (`countUsersByMirror`). */
  snapshot(now: number): Promise<MetricsSnapshot>;
  /** Enabled, enabled-and-suspended (at `now`) and disabled users by the enable flag's mirror. */
  countUsersByMirror(now: number): Promise<UserMirrorCounts>;
  createHour(metrics: HourlyMetrics): Promise<"created" | "exists">;
  readHours(range: { from: number; to: number }): Promise<HourlyMetrics[]>;
  existingDays(range: { from: number; to: number }): Promise<Set<string>>;
  createDay(metrics: DailyMetrics): Promise<"created" | "exists">;
  readEngagement(range: { from: number; to: number }): Promise<EngagementDay[]>;
  countEngagement(dayStart: number): Promise<EngagementRows>;
  saveEngagement(day: EngagementDay): Promise<void>;
}

/** What the dashboard and the metrics route read: rollup documents only. */
export type MetricsReader = Pick<MetricsRollupStore, "readHours" | "readEngagement"> & {
  readDays(range: { from: number; to: number }): Promise<DailyMetrics[]>;
};

export interface RollupSettings {
  /** How far back a run looks for hours not rolled up (an outage longer than this leaves gaps). */
  lookbackHours: number;
  /** Hours counted by one run at most: a run after an outage catches up a few at a time. */
  maxHoursPerRun: number;
  /** Engagement days counted by one run at most. */
  maxEngagementDaysPerRun: number;
  /** No new hour or day is started after this much time (the run's bound inside the tick). */
  budgetMs: number;
}

export const DEFAULT_ROLLUP_SETTINGS: RollupSettings = {
  lookbackHours: 72,
  maxHoursPerRun: 6,
  maxEngagementDaysPerRun: 3,
  budgetMs: 15_000,
};

export interface RollupReport {
  hoursCreated: string[];
  /** Hours another run wrote first (counted here for nothing). */
  hoursFoundTaken: string[];
  daysCreated: string[];
  engagementDaysCounted: string[];
  /** Work left for the next run: hours or days not reached in the budget. */
  stoppedByBudget: boolean;
  /**
   * Why the snapshot could not be read, when it could not: the hours were counted without it
   * (`snapshot: null`), since one optional figure must not hold back every hour's counts.
   */
  snapshotError?: unknown;
  /**
   * Why the counts by the enable flag's mirror could not be read (their composite index still
   * building, say), when they could not: the snapshot was stored without them.
   */
  userCountsError?: unknown;
}

/**
 * Rolls up the figures of completed UTC hours not yet counted (at most `maxHoursPerRun` of the
 * last `lookbackHours`), the days all of whose hours are in, and the engagement of recent days.
 * Safe to run concurrently and again: an hour and a day are written with create() (the first
 * writer wins and nothing is counted twice), engagement as absolute counts. Reads and writes only
 * the rollup's own documents and aggregations: no processor document is touched.
 */
export async function rollUpMetrics({
  store,
  now,
  elapsedMs,
  settings = DEFAULT_ROLLUP_SETTINGS,
}: {
  store: MetricsRollupStore;
  now: number;
  elapsedMs: () => number;
  settings?: RollupSettings;
}): Promise<RollupReport> {
  const report: RollupReport = {
    hoursCreated: [],
    hoursFoundTaken: [],
    daysCreated: [],
    engagementDaysCounted: [],
    stoppedByBudget: false,
  };
  const overBudget = () => {
    if (elapsedMs() < settings.budgetMs) return false;
    report.stoppedByBudget = true;
    return true;
  };
  const lookbackFrom = dayStartOf(now - settings.lookbackHours * HOUR_MS) - DAY_MS;

  // Only the lookback's hours (each listed hour is a read), not the whole days around them.
  const existing = await store.existingHours({
    from: hourStartOf(now) - (settings.lookbackHours + 2) * HOUR_MS,
    to: now,
  });
  const hours = hoursToRollUp({
    now,
    existing,
    lookbackHours: settings.lookbackHours,
    maxHours: settings.maxHoursPerRun,
  });
  let snapshot: MetricsSnapshot | null | undefined;
  const countsFailed: RollupCount[] = [];
  for (const hourStart of hours) {
    if (overBudget()) break;
    if (snapshot === undefined) {
      try {
        snapshot = await store.snapshot(now);
      } catch (error) {
        snapshot = null;
        report.snapshotError = error;
        countsFailed.push("snapshot");
      }
      // Apart: the newest counts need the newest index, and must not take the rest down with them.
      if (snapshot) {
        try {
          snapshot = { ...snapshot, ...(await store.countUsersByMirror(now)) };
        } catch (error) {
          report.userCountsError = error;
          countsFailed.push("usersByFlag");
        }
      }
    }
    const figures = await store.countHour(hourStart);
    const outcome = await store.createHour({
      hourStart,
      computedAt: now,
      figures,
      snapshot,
      ...(countsFailed.length > 0 ? { countsFailed } : {}),
    });
    (outcome === "created" ? report.hoursCreated : report.hoursFoundTaken).push(hourKey(hourStart));
  }

  if (!overBudget()) {
    // Only the days without a daily document (usually today and yesterday) have their hours read.
    const days = await store.existingDays({ from: lookbackFrom, to: now });
    const candidates: number[] = [];
    for (let dayStart = lookbackFrom; dayStart + DAY_MS <= now; dayStart += DAY_MS) {
      if (!days.has(dayKey(dayStart))) candidates.push(dayStart);
    }
    const first = candidates[0];
    const hourly =
      first === undefined
        ? []
        : await store.readHours({ from: first, to: (candidates.at(-1) ?? first) + DAY_MS });
    for (const dayStart of candidates) {
      const ofDay = hourly.filter((hour) => dayStartOf(hour.hourStart) === dayStart);
      // A day none of whose hours was ever counted (before the first rollup) gets no document.
      if (ofDay.length === 0) continue;
      if (
        !dayIsComplete({ dayStart, hoursPresent: ofDay.length, now, lookbackHours: settings.lookbackHours })
      )
        continue;
      const present = new Set(ofDay.map((hour) => hourKey(hour.hourStart)));
      const outcome = await store.createDay({
        dayStart,
        computedAt: now,
        hours: ofDay.length,
        missingHours: Array.from({ length: 24 }, (_, index) => hourKey(dayStart + index * HOUR_MS)).filter(
          (key) => !present.has(key),
        ),
        // Each hour names its top models; the day names the top of their union (and sums the rest).
        figures: withBoundedModels(sumFigures(ofDay.map((hour) => hour.figures)), MAX_MODELS_STORED),
        snapshot: daySnapshot(ofDay.map((hour) => hour.snapshot)),
      });
      if (outcome === "created") report.daysCreated.push(dayKey(dayStart));
    }
  }

  if (!overBudget()) {
    const known = await store.readEngagement({ from: dayStartOf(now) - 15 * DAY_MS, to: now + 1 });
    const toCount = engagementDaysToCount({
      now,
      computedAt: new Map(known.map((day) => [dayKey(day.dayStart), day.computedAt])),
      maxDays: settings.maxEngagementDaysPerRun,
    });
    for (const dayStart of toCount) {
      if (overBudget()) break;
      const rows = await store.countEngagement(dayStart);
      await store.saveEngagement({
        dayStart,
        computedAt: now,
        final: engagementIsFinal({ dayStart, computedAt: now }),
        ...rows,
      });
      report.engagementDaysCounted.push(dayKey(dayStart));
    }
  }
  return report;
}

export type TickRollupOutcome =
  | { status: "skipped"; reason: "chain_continues" | "duplicate_delivery" }
  | { status: "done"; report: RollupReport }
  | { status: "failed"; error: unknown };

/**
 * The rollup as the scheduler route runs it after a tick: only when the tick's chain ends with
 * this run (a step that started the next one leaves it to that one, which has the time; a
 * duplicate delivery that found its step taken does nothing, like the step itself), and never
 * rejecting: a failure comes back as data for the caller to log, the tick's answer stands,
 * and a later tick counts the hours still missing.
 */
export async function rollUpAfterTick({
  store,
  run,
  now,
  elapsedMs,
  settings = DEFAULT_ROLLUP_SETTINGS,
}: {
  store: MetricsRollupStore;
  run: Pick<SchedulerRunRecord, "chain">;
  now: number;
  elapsedMs: () => number;
  settings?: RollupSettings;
}): Promise<TickRollupOutcome> {
  if (run.chain?.duplicateOf) return { status: "skipped", reason: "duplicate_delivery" };
  if (run.chain?.continuation.status === "dispatched")
    return { status: "skipped", reason: "chain_continues" };
  try {
    return { status: "done", report: await rollUpMetrics({ store, now, elapsedMs, settings }) };
  } catch (error) {
    return { status: "failed", error };
  }
}
