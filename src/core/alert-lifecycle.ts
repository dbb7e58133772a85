/**
 * The operator's alerts (issue 15), what a verdict does to the stored alerts: fire, reopen,
 * resolve. Pure: `now` is passed in.
 *
 * An alert's id is `{condition}_{YYYY-MM-DDTHH}` (the UTC hour it fired in), created with
 * create(): two evaluators that both see a condition become active write one alert, and a
 * condition fires (and is posted) at most once an hour. A condition that clears resolves its
 * open alert; one that comes back within the same hour reopens it, posted as such (once per
 * alert), and a reopened alert stays open till its hour is out, so a flapping condition posts at
 * most four times an hour (fired, resolved, reopened, resolved after the reopening) and a posted
 * RESOLVED is never Slack's last word while the alert is open.
 */
import { ALERT_CONDITIONS, type AlertCondition, type ConditionVerdict } from "./alerts";
import { hourKey } from "./metrics-hours";

export type AlertStatus = "open" | "resolved";

/** An `alerts` document. */
export interface AlertRecord {
  /** `{condition}_{YYYY-MM-DDTHH}`: the condition and the UTC hour it fired in. */
  id: string;
  condition: AlertCondition;
  status: AlertStatus;
  firedAt: number;
  /** The figures when it fired (or was last reopened). */
  summary: string;
  resolvedAt: number | null;
  /** Set when the condition came back within the alert's hour after it had resolved. */
  reopenedAt: number | null;
}

/** The id of the alert a condition fires at `now`: once per condition per UTC hour. */
export function alertId(condition: AlertCondition, now: number): string {
  return `${condition}_${hourKey(now)}`;
}

/** What an evaluation does to the stored alerts. */
export interface AlertPlan {
  /** New alerts (create(): a second evaluator finds the id taken and reopens instead). */
  fire: AlertRecord[];
  /** Open alerts whose condition cleared, and which post (its own id once the alert has reopened). */
  resolve: { id: string; condition: AlertCondition; transition: "resolved" | "resolved_after_reopen" }[];
}

/** A transition that is posted: each has its own notification event id, so each is posted at most once. */
export type AlertTransition = "fired" | "resolved" | "reopened" | "resolved_after_reopen";

/**
 * The transitions: a condition active with no open alert fires one; an open alert whose
 * condition is inactive resolves; an unknown condition (its figure could not be read) changes
 * nothing. Deterministic: conditions in `ALERT_CONDITIONS` order, open alerts by id.
 */
export function planAlerts({
  verdicts,
  openAlerts,
  now,
}: {
  verdicts: Record<AlertCondition, ConditionVerdict>;
  openAlerts: readonly (Pick<AlertRecord, "id" | "condition"> & Partial<Pick<AlertRecord, "reopenedAt">>)[];
  now: number;
}): AlertPlan {
  const fire: AlertRecord[] = [];
  for (const condition of ALERT_CONDITIONS) {
    const verdict = verdicts[condition];
    if (verdict.state !== "active") continue;
    if (openAlerts.some((alert) => alert.condition === condition)) continue;
    fire.push({
      id: alertId(condition, now),
      condition,
      status: "open",
      firedAt: now,
      summary: verdict.summary,
      resolvedAt: null,
      reopenedAt: null,
    });
  }
  const reopened = (alert: (typeof openAlerts)[number]) => (alert.reopenedAt ?? null) !== null;
  const resolve = [...openAlerts]
    .filter((alert) => verdicts[alert.condition]?.state === "inactive")
    // A reopened alert could not be posted reopened again within its hour (its event id is taken):
    // it stays open till the hour is out, so RESOLVED is never Slack's last word on an open alert.
    .filter((alert) => !reopened(alert) || alert.id !== alertId(alert.condition, now))
    .sort((left, right) => left.id.localeCompare(right.id))
    .map((alert) => ({
      id: alert.id,
      condition: alert.condition,
      transition: reopened(alert) ? ("resolved_after_reopen" as const) : ("resolved" as const),
    }));
  return { fire, resolve };
}

/** The outbox event that posts an alert's transition: one per alert and transition. */
export function alertNotificationEventId(alertIdValue: string, transition: AlertTransition): string {
  return `alert.notification_${alertIdValue}_${transition}`;
}

/** The dashboard's order: open alerts first, then the newest. */
export function sortAlertsForDisplay<Alert extends Pick<AlertRecord, "status" | "firedAt" | "id">>(
  alerts: readonly Alert[],
): Alert[] {
  return [...alerts].sort(
    (left, right) =>
      (left.status === "open" ? 0 : 1) - (right.status === "open" ? 0 : 1) ||
      right.firedAt - left.firedAt ||
      left.id.localeCompare(right.id),
  );
}
