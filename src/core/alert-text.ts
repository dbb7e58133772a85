/** The operator's alerts (issue 15), in words: their titles and the text posted to the webhook. */

import type { AlertRecord, AlertTransition } from "./alert-lifecycle";
import type { AlertCondition } from "./alerts";

/** What an operator calls each condition (the dashboard, the posted text). */
export const ALERT_TITLES: Record<AlertCondition, string> = {
  failure_rate: "Generation failure rate over 5 %",
  dead_letters_growing: "Dead letters growing",
  outbox_backlog: "Outbox backlog over 15 min",
  llm_breaker_open: "LLM circuit breaker open",
  scheduler_stale: "Scheduler stale over 2 h",
  ticks_undrained: "Scheduler ticks not draining their due users",
  llm_ceiling_saturated: "Global LLM ceiling saturated",
  acute_risk: "Acute risk read in a user's entries",
  metrics_counts_failing: "Metrics rollup could not count users",
};

/** Slack and its look-alikes cap a message's text; ours are a line or two. */
export const ALERT_TEXT_MAX_LENGTH = 1_000;

/**
 * The text posted to ALERT_WEBHOOK_URL (Slack-compatible `{ text }`): the condition, its figures
 * and the alert's id, and where the dashboard is. Built from the alert alone — figures and fixed
 * words — so no secret, user id or journal text can reach it.
 */
export function alertText({
  alert,
  transition,
  dashboardUrl,
  now,
}: {
  alert: Pick<AlertRecord, "id" | "condition" | "summary" | "firedAt">;
  transition: AlertTransition;
  dashboardUrl: string;
  now: number;
}): string {
  const title = ALERT_TITLES[alert.condition];
  const at = (instant: number) => `${new Date(instant).toISOString().slice(0, 16)}Z`;
  const texts: Record<AlertTransition, () => string> = {
    fired: () =>
      `[coaching-engine] ALERT ${title}: ${alert.summary}. Fired ${at(alert.firedAt)} (${alert.id}). ${dashboardUrl}`,
    reopened: () =>
      `[coaching-engine] REOPENED ${title}: ${alert.summary}. Fired ${at(alert.firedAt)}, back ${at(now)} (${alert.id}). ${dashboardUrl}`,
    resolved: () =>
      `[coaching-engine] RESOLVED ${title} (${alert.id}), fired ${at(alert.firedAt)}, resolved ${at(now)}. ${dashboardUrl}`,
    resolved_after_reopen: () =>
      `[coaching-engine] RESOLVED ${title} (${alert.id}), fired ${at(alert.firedAt)}, reopened, resolved ${at(now)}. ${dashboardUrl}`,
  };
  const text = texts[transition]();
  return text.slice(0, ALERT_TEXT_MAX_LENGTH);
}
