import "server-only";
import { getDb } from "@/adapters/firestore/client";
import { createFirestoreMetricsStore } from "@/adapters/firestore/metrics-store";
import type { AppConfig } from "@/config";
import { logger } from "@/logger";
import { type MetricsRange, readDashboardMetrics, readMetricsOverview } from "@/pipeline/metrics-overview";
import { DEFAULT_ROLLUP_SETTINGS, rollUpAfterTick } from "@/pipeline/roll-up-metrics";
import type { SchedulerRunRecord } from "@/pipeline/scheduler-run-record";

/**
 * No hour is started later than this after the scheduler request began: the route's 60 s less
 * the time one more hour's counts may take. A step that used its whole dispatch budget leaves
 * nothing, and the chain's last step (or the next tick) rolls up instead.
 */
const ROLLUP_DEADLINE_MS = 45_000;

/**
 * Rolls up the operator's figures after a scheduler tick (pipeline/roll-up-metrics.ts
 * `rollUpAfterTick`): never throws, logs what it did or why it failed.
 */
export async function rollUpMetricsAfterTick(
  config: AppConfig,
  { run, requestStartedAt }: { run: SchedulerRunRecord; requestStartedAt: number },
): Promise<void> {
  const outcome = await rollUpAfterTick({
    store: createFirestoreMetricsStore(getDb(config)),
    run,
    now: Date.now(),
    elapsedMs: () => performance.now() - requestStartedAt,
    settings: { ...DEFAULT_ROLLUP_SETTINGS, budgetMs: ROLLUP_DEADLINE_MS },
  });
  if (outcome.status === "failed") {
    logger.warn("metrics rollup failed; a later tick catches up", {
      component: "metrics",
      runId: run.runId,
      error: outcome.error,
    });
  } else if (outcome.status === "done") {
    const { report } = outcome;
    if (report.hoursCreated.length + report.daysCreated.length + report.engagementDaysCounted.length > 0) {
      logger.info("metrics rolled up", { component: "metrics", runId: run.runId, ...report });
    }
  }
}

/** The figures of `GET /api/admin/metrics` and the dashboard: rollup documents only. */
export function metricsOverview(config: AppConfig, { range, now }: { range: MetricsRange; now: number }) {
  return readMetricsOverview({ reader: createFirestoreMetricsStore(getDb(config)), range, now });
}

/** The dashboard's 24 hours and 14 days, from one read of the rollup documents. */
export function dashboardMetrics(config: AppConfig, now: number) {
  return readDashboardMetrics({ reader: createFirestoreMetricsStore(getDb(config)), now });
}
