/**
 * The operator's alerts: where a fired or resolved alert is posted (Slack-compatible incoming
 * webhook). Off, not broken, without ALERT_WEBHOOK_URL: alerts are still evaluated, stored and
 * listed on the dashboard, and nothing is posted.
 */
import { z } from "zod";
import { optionalText } from "./fields";

/** Each post is aborted after this (a retriable failure): well inside a drain's handler time. */
export const ALERT_WEBHOOK_TIMEOUT_MS = 5_000;

export const alertsEnv = z.object({
  /**
   * A Slack (or compatible) incoming webhook URL. It is a secret (whoever holds it can post to
   * the channel): never logged, never shown.
   */
  ALERT_WEBHOOK_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
});

type AlertsEnv = z.output<typeof alertsEnv> & { NODE_ENV: "development" | "production" | "test" };

/** Hosts a plain-http webhook may point at in production: a stand-in on this machine (tests). */
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * In production the webhook URL, a secret, goes over https only: plain http is accepted for a
 * stand-in on this machine (the route tests run `next start`, which is production).
 */
export function alertWebhookProblem(env: AlertsEnv): string | null {
  if (!env.ALERT_WEBHOOK_URL || env.NODE_ENV !== "production") return null;
  const url = new URL(env.ALERT_WEBHOOK_URL);
  if (url.protocol === "https:" || LOOPBACK_HOSTS.has(url.hostname)) return null;
  return "ALERT_WEBHOOK_URL must be an https: URL in production (plain http only to localhost)";
}

/** The alerts' part of the configuration. */
export function alertsSettings(env: AlertsEnv) {
  return {
    /** Posting alerts; null without ALERT_WEBHOOK_URL: alerts are stored and shown, not posted. */
    alerts: env.ALERT_WEBHOOK_URL
      ? { webhookUrl: env.ALERT_WEBHOOK_URL, timeoutMs: ALERT_WEBHOOK_TIMEOUT_MS }
      : null,
  };
}
