/**
 * The operator's alerts (issue 15): which conditions are active, given figures the engine reads
 * cheaply (a few aggregations and single documents, none per user), and what that means for the
 * stored alerts — fire, reopen, resolve. Pure: `now` is passed in; the adapter reads, this
 * module decides.
 *
 * An alert's id is `{condition}_{YYYY-MM-DDTHH}` (the UTC hour it fired in), created with
 * create(): two evaluators that both see a condition become active write one alert, and a
 * condition fires (and is posted) at most once an hour. A condition that clears resolves its
 * open alert; one that comes back within the same hour reopens it, posted as such (once per
 * alert), and a reopened alert stays open till its hour is out, so a flapping condition posts at
 * most four times an hour (fired, resolved, reopened, resolved after the reopening) and a posted
 * RESOLVED is never Slack's last word while the alert is open.
 */
import { SCHEDULER_STALE_AFTER_MS } from "./liveness";
import { hourKey } from "./metrics-hours";

export const ALERT_CONDITIONS = [
  "failure_rate",
  "dead_letters_growing",
  "outbox_backlog",
  "llm_breaker_open",
  "scheduler_stale",
  "ticks_undrained",
  "llm_ceiling_saturated",
  "acute_risk",
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
  };
}

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
