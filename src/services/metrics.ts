import "server-only";
import { getDb } from "@/adapters/firestore/client";
import { createFirestoreMetricsStore } from "@/adapters/firestore/metrics-store";
import { getPrompts } from "@/adapters/prompts";
import type { AppConfig } from "@/config";
import { experimentVariantKeys } from "@/core/prompt-experiments";
import { logger } from "@/logger";
import { type MetricsRange, readDashboardMetrics, readMetricsOverview } from "@/pipeline/metrics-overview";
import {
  DEFAULT_ROLLUP_SETTINGS,
  rollUpAfterTick,
  rollUpMetrics,
  type TickRollupOutcome,
} from "@/pipeline/roll-up-metrics";
import type { SchedulerRunRecord } from "@/pipeline/scheduler-run-record";

/**
 * No hour is started later than this after the scheduler request began: the route's 60 s less
 * the time one more hour's counts may take. A step that used its whole dispatch budget leaves
 * nothing, and the chain's last step (or the outbox drain) rolls up instead.
 */
const ROLLUP_DEADLINE_MS = 45_000;

/**
 * After a tick the rollup runs after the response and must end before the route's 60 s: it is
 * cut at this much after the request began (a count that hangs would otherwise hold the
 * function till Vercel kills it), and not started with less than `MIN_ROLLUP_MS` left.
 */
const SCHEDULER_ROUTE_END_MS = 57_000;
const MIN_ROLLUP_MS = 2_000;

/**
 * Beside the outbox drain the rollup has its own budget (no hour started after it) and a hard
 * bound past it for the hour in progress; both well inside the drain route's 60 s.
 */
const DRAIN_ROLLUP_BUDGET_MS = 15_000;
const DRAIN_ROLLUP_TIMEOUT_MS = 25_000;

/** The rollup's store: counting per prompt variant too while an experiment runs (docs/generation.md). */
function rollupStore(config: AppConfig) {
  const experiment = getPrompts({
    variantsDirectory: config.promptVariantsDirectory,
  }).messageGenerationExperiment;
  return createFirestoreMetricsStore(getDb(config), {
    promptVariants: experiment ? experimentVariantKeys(experiment) : [],
  });
}

type RollupOutcome = TickRollupOutcome | { status: "timed_out"; timeoutMs: number };

/**
 * The rollup's outcome, or "timed_out" after `timeoutMs`. The work is settled, never rejected:
 * a run given up on may still fail later, and a rejection nobody awaits any more would be
 * unhandled (and end the process).
 */
async function rollupWithin(
  work: () => Promise<TickRollupOutcome>,
  timeoutMs: number,
): Promise<RollupOutcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = work().catch((error: unknown): TickRollupOutcome => ({ status: "failed", error }));
  const timedOut = new Promise<RollupOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ status: "timed_out", timeoutMs }), timeoutMs);
  });
  try {
    return await Promise.race([settled, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function logRollup(outcome: RollupOutcome, context: { source: "scheduler" | "outbox"; runId?: string }) {
  if (outcome.status === "failed") {
    logger.warn("metrics rollup failed; a later tick or drain catches up", {
      component: "metrics",
      ...context,
      error: outcome.error,
    });
  } else if (outcome.status === "timed_out") {
    logger.warn("metrics rollup given up on; a later tick or drain catches up", {
      component: "metrics",
      ...context,
      timeoutMs: outcome.timeoutMs,
    });
  } else if (outcome.status === "done") {
    const { snapshotError, userCountsError, ...report } = outcome.report;
    if (snapshotError !== undefined) {
      logger.warn("metrics snapshot unreadable; hours counted without it", {
        component: "metrics",
        ...context,
        error: snapshotError,
      });
    }
    if (userCountsError !== undefined) {
      logger.warn("metrics enabled-user counts unreadable; snapshot stored without them", {
        component: "metrics",
        ...context,
        error: userCountsError,
      });
    }
    if (report.hoursCreated.length + report.daysCreated.length + report.engagementDaysCounted.length > 0) {
      logger.info("metrics rolled up", { component: "metrics", ...context, ...report });
    }
  }
}

/**
 * Rolls up the operator's figures after a scheduler tick (pipeline/roll-up-metrics.ts
 * `rollUpAfterTick`), meant for after() the response: cut at what is left of the route's
 * time, never throws, logs what it did or why it failed.
 */
export async function rollUpMetricsAfterTick(
  config: AppConfig,
  { run, requestStartedAt }: { run: SchedulerRunRecord; requestStartedAt: number },
): Promise<void> {
  const left = SCHEDULER_ROUTE_END_MS - (performance.now() - requestStartedAt);
  if (left < MIN_ROLLUP_MS) {
    logger.warn("metrics not rolled up after this tick: no time left; the outbox drain rolls up", {
      component: "metrics",
      runId: run.runId,
    });
    return;
  }
  const outcome = await rollupWithin(
    () =>
      rollUpAfterTick({
        store: rollupStore(config),
        run,
        now: Date.now(),
        elapsedMs: () => performance.now() - requestStartedAt,
        settings: { ...DEFAULT_ROLLUP_SETTINGS, budgetMs: ROLLUP_DEADLINE_MS },
      }),
    left,
  );
  logRollup(outcome, { source: "scheduler", runId: run.runId });
}

/**
 * Rolls up the operator's figures beside an outbox cron drain (every 5 minutes, with its own
 * budget): under sustained load the scheduler's steps use their whole time and leave the
 * rollup none, and the hourly tick at :00 is too early for the hour that just ended (it
 * settles 10 minutes later). Safe beside a tick's rollup (create() per hour). Never throws.
 */
export async function rollUpMetricsSafely(
  config: AppConfig,
  { timeoutMs = DRAIN_ROLLUP_TIMEOUT_MS }: { timeoutMs?: number } = {},
): Promise<void> {
  const startedAt = performance.now();
  const outcome = await rollupWithin(async () => {
    const report = await rollUpMetrics({
      store: rollupStore(config),
      now: Date.now(),
      elapsedMs: () => performance.now() - startedAt,
      settings: { ...DEFAULT_ROLLUP_SETTINGS, budgetMs: DRAIN_ROLLUP_BUDGET_MS },
    });
    return { status: "done", report };
  }, timeoutMs);
  logRollup(outcome, { source: "outbox" });
}

/** The figures of `GET /api/admin/metrics` and the dashboard: rollup documents only. */
export function metricsOverview(config: AppConfig, { range, now }: { range: MetricsRange; now: number }) {
  return readMetricsOverview({ reader: createFirestoreMetricsStore(getDb(config)), range, now });
}

/** The dashboard's 24 hours and 14 days, from one read of the rollup documents. */
export function dashboardMetrics(config: AppConfig, now: number) {
  return readDashboardMetrics({ reader: createFirestoreMetricsStore(getDb(config)), now });
}
