import type { AlertRecord } from "@/core/alert-lifecycle";
import type { AlertCondition, AlertFigures, AlertMemory } from "@/core/alerts";
import type { EventRecord } from "@/core/events";

/**
 * The alerts' storage: `alerts/{condition}_{YYYY-MM-DDTHH}` and the evaluations' memory.
 * A fired alert and the event that posts it are written together, the alert's create() first, so
 * two evaluators never both fire (or post) it.
 */
export interface AlertStore {
  /** Open alerts (at most one per condition, a few more around an hour's turn). */
  readOpenAlerts(): Promise<AlertRecord[]>;
  readMemory(): Promise<AlertMemory>;
  /**
   * Merges the fields this evaluation changed (a concurrent evaluator's other fields stand); an
   * evaluation that changed nothing does not call it.
   */
  saveMemory(patch: Partial<AlertMemory>): Promise<void>;
  /**
   * create() of the condition's open claim, the alert, and its notification event when posting
   * is on, in one batch: "exists" when the alert's id (its condition and hour) is taken or
   * another alert of the condition holds the claim (fired the other side of an hour's turn), and
   * then nothing is written. A claim whose alert is no longer open is let go and taken.
   */
  fireAlert(input: { alert: AlertRecord; notification: EventRecord | null }): Promise<"created" | "exists">;
  /**
   * Takes the condition's open claim (false when another alert holds it) and marks a resolved
   * alert of this hour open again, with its `reopened` notification event's
   * create() first when posting is on (once per alert); false when it was not resolved (a
   * concurrent evaluator has just fired it) or the notification exists (a concurrent evaluator
   * has just reopened it).
   */
  reopenAlert(input: {
    id: string;
    condition: AlertCondition;
    summary: string;
    now: number;
    notification: EventRecord | null;
  }): Promise<boolean>;
  /**
   * Marks the alert resolved and lets go of its open claim, with the notification event's create() first when posting is on;
   * a notification that exists already (a concurrent evaluator resolved it) is not written again.
   */
  resolveAlert(input: {
    id: string;
    condition: AlertCondition;
    now: number;
    notification: EventRecord | null;
  }): Promise<void>;
  /** The newest alerts, for the dashboard. */
  listAlerts(input: { limit: number }): Promise<AlertRecord[]>;
}

/** The figures the conditions rest on, read at `now`: each one on its own, a failed read is `{ ok: false }`. */
export interface AlertSignals {
  read(now: number): Promise<AlertFigures>;
}

/** Posting a text to the alert webhook (Slack-compatible `{ text }`). */
export interface AlertWebhook {
  post(text: string): Promise<{ ok: true } | { ok: false; retriable: boolean; reason: string }>;
}
