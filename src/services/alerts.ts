import "server-only";
import { createFirestoreAlertSignals, createFirestoreAlertStore } from "@/adapters/firestore/alert-store";
import { getDb } from "@/adapters/firestore/client";
import type { AppConfig } from "@/config";
import { sortAlertsForDisplay } from "@/core/alert-lifecycle";
import { logger } from "@/logger";
import { chainEndOf, evaluateAlerts, evaluatesAfterTick } from "@/pipeline/evaluate-alerts";
import type { SchedulerRunRecord } from "@/pipeline/scheduler-run-record";

/** An evaluation is a few reads and at most a few writes: it is given up after this (logged). */
const ALERT_EVALUATION_TIMEOUT_MS = 10_000;

/**
 * After a tick, the evaluation must end before the scheduler route's 60 s: it starts only with
 * this much left, and is cut to what is left less a margin.
 */
const SCHEDULER_ROUTE_END_MS = 57_000;
const MIN_EVALUATION_MS = 2_000;

/** The alerts an operator reads: open ones first, then the newest (the dashboard's history). */
const DASHBOARD_ALERTS = 30;

/**
 * Evaluates the alerts (pipeline/evaluate-alerts.ts) within `budgetMs`; never throws: a failure
 * or a timeout is logged, and the next tick or outbox run evaluates again.
 */
export async function evaluateAlertsSafely(
  config: AppConfig,
  {
    source,
    run = null,
    budgetMs = ALERT_EVALUATION_TIMEOUT_MS,
  }: { source: "scheduler" | "outbox"; run?: SchedulerRunRecord | null; budgetMs?: number },
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const db = getDb(config);
    // Settled, never rejected: an evaluation given up on at the timeout may still fail later, and
    // a rejection nobody awaits any more would be unhandled (and end the process).
    const evaluation = evaluateAlerts({
      store: createFirestoreAlertStore(db),
      signals: createFirestoreAlertSignals(db, { llmCeiling: config.llmCeiling }),
      now: Date.now(),
      chainEnd: run ? chainEndOf(run) : null,
      posting: config.alerts ? { dashboardUrl: `${config.appUrl}/admin#alerts` } : null,
    }).then(
      (report) => ({ ok: true as const, report }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no result within ${budgetMs} ms`)), budgetMs);
    });
    const outcome = await Promise.race([evaluation, timedOut]);
    if (!outcome.ok) throw outcome.error;
    const { report } = outcome;
    if (report.fired.length + report.resolved.length + report.reopened.length > 0) {
      logger.warn("alerts changed", { component: "alerts", source, runId: run?.runId, ...report });
    }
    if (report.unknown.length > 0) {
      logger.warn("alert figures unreadable; their alerts left as they were", {
        component: "alerts",
        source,
        unknown: report.unknown,
      });
    }
  } catch (error) {
    logger.warn("alert evaluation failed; the next tick or outbox run evaluates again", {
      component: "alerts",
      source,
      runId: run?.runId,
      error,
    });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The evaluation after a scheduler tick (after its work, beside the metrics rollup): at a chain's
 * end only, bounded by what is left of the route's time; never throws.
 */
export async function evaluateAlertsAfterTick(
  config: AppConfig,
  { run, requestStartedAt }: { run: SchedulerRunRecord; requestStartedAt: number },
): Promise<void> {
  if (!evaluatesAfterTick(run)) return;
  const left = SCHEDULER_ROUTE_END_MS - (performance.now() - requestStartedAt);
  if (left < MIN_EVALUATION_MS) {
    logger.warn("alerts not evaluated after this tick: no time left; the outbox run evaluates", {
      component: "alerts",
      runId: run.runId,
    });
    return;
  }
  await evaluateAlertsSafely(config, {
    source: "scheduler",
    run,
    budgetMs: Math.min(ALERT_EVALUATION_TIMEOUT_MS, left),
  });
}

/**
 * The dashboard's alerts: every open one first (one open for days is not pushed out by newer
 * ones that came and went), then the newest, with their history. Two small reads, whatever the
 * number of users.
 */
export async function alertsOverview(config: AppConfig) {
  const store = createFirestoreAlertStore(getDb(config));
  const [open, newest] = await Promise.all([
    store.readOpenAlerts(),
    store.listAlerts({ limit: DASHBOARD_ALERTS }),
  ]);
  const byId = new Map([...newest, ...open].map((alert) => [alert.id, alert]));
  return { alerts: sortAlertsForDisplay([...byId.values()]), posting: config.alerts !== null };
}
