import {
  type AlertRecord,
  type AlertTransition,
  alertNotificationEventId,
  planAlerts,
} from "@/core/alert-lifecycle";
import { alertText } from "@/core/alert-text";
import {
  type AlertCondition,
  type ChainEnd,
  evaluateConditions,
  memoryPatch,
  nextAlertMemory,
} from "@/core/alerts";
import { EVENT_TYPES, type EventRecord, newEvent } from "@/core/events";
import type { AlertSignals, AlertStore } from "./alert-ports";
import type { SchedulerRunRecord } from "./scheduler-run-record";

export interface AlertEvaluationReport {
  fired: string[];
  /** Alerts of this hour that had resolved and whose condition came back (posted once per alert). */
  reopened: string[];
  resolved: string[];
  /** Conditions whose figures could not be read: their alerts were left as they were. */
  unknown: AlertCondition[];
}

/** Where posted texts point the operator, when posting is on (ALERT_WEBHOOK_URL set). */
export interface AlertPosting {
  dashboardUrl: string;
}

function notificationEvent(
  alert: Pick<AlertRecord, "id" | "condition" | "summary" | "firedAt">,
  transition: AlertTransition,
  { posting, now }: { posting: AlertPosting; now: number },
): EventRecord {
  return newEvent({
    id: alertNotificationEventId(alert.id, transition),
    eventType: EVENT_TYPES.alertNotification,
    aggregateId: alert.id,
    aggregateType: "alert",
    payload: {
      alertId: alert.id,
      transition,
      text: alertText({ alert, transition, dashboardUrl: posting.dashboardUrl, now }),
    },
    createdBy: "alerts",
    now,
  });
}

/**
 * One evaluation: reads the figures, the memory and the open alerts (a few documents and
 * aggregations, none per user), fires the conditions that became active (create(), with the
 * event that posts them when `posting` is set), resolves those that cleared. Safe to run
 * concurrently: an alert's id is its condition and hour, so a second evaluator finds it taken.
 */
export async function evaluateAlerts({
  store,
  signals,
  now,
  chainEnd = null,
  posting,
}: {
  store: AlertStore;
  signals: AlertSignals;
  now: number;
  /** The chain a scheduler tick just ended, when the evaluation follows one. */
  chainEnd?: ChainEnd | null;
  posting: AlertPosting | null;
}): Promise<AlertEvaluationReport> {
  const [figures, memory, openAlerts] = await Promise.all([
    signals.read(now),
    store.readMemory(),
    store.readOpenAlerts(),
  ]);
  const updated = nextAlertMemory({ memory, figures, chainEnd, now });
  const patch = memoryPatch(memory, updated);
  if (Object.keys(patch).length > 0) await store.saveMemory(patch);
  const verdicts = evaluateConditions({ figures, memory: updated, now });
  const plan = planAlerts({ verdicts, openAlerts, now });
  const report: AlertEvaluationReport = {
    fired: [],
    reopened: [],
    resolved: [],
    unknown: Object.entries(verdicts)
      .filter(([, verdict]) => verdict.state === "unknown")
      .map(([condition]) => condition as AlertCondition),
  };
  for (const alert of plan.fire) {
    const outcome = await store.fireAlert({
      alert,
      notification: posting ? notificationEvent(alert, "fired", { posting, now }) : null,
    });
    if (outcome === "created") {
      report.fired.push(alert.id);
    } else if (
      await store.reopenAlert({
        id: alert.id,
        condition: alert.condition,
        summary: alert.summary,
        now,
        notification: posting ? notificationEvent(alert, "reopened", { posting, now }) : null,
      })
    ) {
      // Fired before within this hour and resolved since (a concurrent evaluator's fresh one stays
      // as it is): posted, so Slack's last word is not the resolution before it.
      report.reopened.push(alert.id);
    }
  }
  for (const { id, transition } of plan.resolve) {
    const alert = openAlerts.find((candidate) => candidate.id === id);
    if (!alert) continue;
    await store.resolveAlert({
      id,
      condition: alert.condition,
      now,
      notification: posting ? notificationEvent(alert, transition, { posting, now }) : null,
    });
    report.resolved.push(id);
  }
  return report;
}

/**
 * The end of an hour's scheduler chain that a tick's run record reports, or null when the run
 * is not one (a step that started the next, a duplicate delivery, a manual run): a failed step
 * or one that left due users over did not drain them.
 */
export function chainEndOf(run: Pick<SchedulerRunRecord, "chain" | "status" | "results">): ChainEnd | null {
  const { chain } = run;
  if (!chain || chain.duplicateOf || chain.continuation.status === "dispatched") return null;
  return { chainId: chain.chainId, undrained: run.status === "failed" || run.results.hasMore };
}

/**
 * Whether a tick's run is one after which alerts are evaluated: not a step that started the next
 * one (the chain's last step evaluates), not a duplicate delivery (it did nothing).
 */
export function evaluatesAfterTick(run: Pick<SchedulerRunRecord, "chain">): boolean {
  return !run.chain?.duplicateOf && run.chain?.continuation.status !== "dispatched";
}
