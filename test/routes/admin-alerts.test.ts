/**
 * Alerts on the real Next.js server: a burst of failed generation attempts makes the alert
 * evaluated after a scheduler tick fire once; the outbox posts it once to a local stand-in of a
 * Slack webhook (retrying a failed post); it resolves after recovery and is posted resolved
 * once; the dashboard lists open alerts first, with the history, in Chromium.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSessionToken } from "@/http/admin-session";
import { type AlertWebhookStandIn, startAlertWebhook } from "../support/alert-webhook";
import { launchChromium, SCREENSHOT_DIR } from "../support/browser";
import { eventually } from "../support/eventually";
import { putDocuments } from "../support/firestore";
import type { NextServer } from "../support/next-server";
import { caller, type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "alerts-test-secret-0123456789abcdef";
const SESSION_SECRET = "alerts-test-session-secret-0123456789abcdef";
const SCHEDULER = "/api/coaching/generateCoachingMessage/scheduler";
const PROCESS_BATCH = "/api/events/process-batch";

let stack: RouteStack;
let db: Firestore;
let server: NextServer;
let webhook: AlertWebhookStandIn;
let browser: Browser;

beforeAll(async () => {
  webhook = await startAlertWebhook();
  stack = await startRouteStack({
    prefix: "admin-alerts",
    cronSecret: SECRET,
    env: {
      ADMIN_PASSWORD: "alerts-admin-password-0123",
      ADMIN_SESSION_SECRET: SESSION_SECRET,
      ALERT_WEBHOOK_URL: webhook.url,
      // A failed post is tried again a second later, not 30 s.
      EVENT_RETRY_BASE_MS: "1000",
    },
  });
  ({ db, server } = stack);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await webhook?.stop();
});

const call = caller(() => server, { method: "POST", token: SECRET });

const alertsOf = async (condition: string) =>
  (await db.collection("alerts").where("condition", "==", condition).get()).docs.map((document) => ({
    id: document.id,
    ...(document.data() as { status: string; summary: string }),
  }));

/** A scheduler tick; its alert evaluation runs after the response. */
async function tick() {
  const response = await call(SCHEDULER, { body: {} });
  expect(response.status).toBe(200);
}

/** Outbox drains until `check` holds for the stand-in's posts. */
async function drainUntil(check: (posts: string[]) => boolean) {
  return eventually(
    async () => {
      expect((await call(PROCESS_BATCH, { body: {} })).status).toBe(202);
      await new Promise((resolve) => setTimeout(resolve, 400));
      return webhook.posts.map((post) => post.text);
    },
    check,
    30_000,
  );
}

describe("an alert for a burst of failures", () => {
  let alertId: string;

  it("fires once after a tick that follows the burst", async () => {
    const now = Date.now();
    // 30 attempts in the last hour, 9 failed: 30 %, over 5 % of at least 20.
    await putDocuments(
      db,
      "coachingMessages",
      Array.from({ length: 30 }, (_, index): [string, Record<string, unknown>] => [
        `burst-${index}`,
        {
          uid: `private-uid-${index}`,
          status: index < 9 ? "failed" : "sent",
          createdAt: now - 5 * 60_000 - index * 1_000,
          messageContent: "private journal-derived text",
        },
      ]),
    );
    await tick();
    const [alert] = await eventually(
      () => alertsOf("failure_rate"),
      (found) => found.length === 1,
    );
    alertId = alert?.id ?? "";
    expect(alert).toMatchObject({
      status: "open",
      summary: "30 % of the last hour's generation attempts failed (9 of 30)",
    });
    expect(alertId).toMatch(/^failure_rate_\d{4}-\d{2}-\d{2}T\d{2}$/);
  });

  it("is posted once to the webhook, the failed first post retried by the outbox", async () => {
    webhook.queueFaults([{ status: 500 }]);
    const posts = await drainUntil((texts) => texts.length >= 1);
    expect(posts).toHaveLength(1);
    expect(posts[0]).toContain("ALERT Generation failure rate over 5 %: 30 %");
    expect(posts[0]).toContain(alertId);
    expect(posts[0]).not.toMatch(/private|journal-derived|sk-or|re_test|alerts-test/);
    // The 500 and the post that went through.
    expect(webhook.attempts.map((attempt) => attempt.status)).toEqual([500, 200]);
    const event = (await db.doc(`events/alert.notification_${alertId}_fired`).get()).data();
    expect(event).toMatchObject({ status: "processed", attempts: 2 });
  });

  it("does not fire or post again while the failures last", async () => {
    await tick();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await call(PROCESS_BATCH, { body: {} })).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await alertsOf("failure_rate")).toHaveLength(1);
    expect(webhook.posts).toHaveLength(1);
  });

  it("resolves after recovery, and is posted resolved once", async () => {
    // Recovery: the failed attempts are retried and sent.
    await putDocuments(
      db,
      "coachingMessages",
      Array.from({ length: 9 }, (_, index): [string, Record<string, unknown>] => [
        `burst-${index}`,
        { uid: `private-uid-${index}`, status: "sent", createdAt: Date.now() - 60_000 },
      ]),
    );
    await tick();
    await eventually(
      () => alertsOf("failure_rate"),
      (found) => found[0]?.status === "resolved",
    );
    const posts = await drainUntil((texts) => texts.length >= 2);
    expect(posts).toHaveLength(2);
    expect(posts[1]).toContain(`RESOLVED Generation failure rate over 5 % (${alertId})`);
    await tick();
    expect((await call(PROCESS_BATCH, { body: {} })).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(webhook.posts).toHaveLength(2);
    expect(await alertsOf("failure_rate")).toHaveLength(1);
  });

  it("lists open alerts first, then the history, on the dashboard, in Chromium", async () => {
    // A second condition, still open: the LLM breaker.
    await db.doc("systemState/llmBreaker").set({
      state: "open",
      consecutiveFailures: 20,
      openedAt: Date.now(),
      openUntil: Date.now() + 300_000,
      lastFailureAt: Date.now(),
      lastError: "provider down",
    });
    expect((await call(PROCESS_BATCH, { body: {} })).status).toBe(202);
    await eventually(
      () => alertsOf("llm_breaker_open"),
      (found) => found[0]?.status === "open",
    );
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const token = createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() });
      await context.addCookies([{ name: "ce_admin_session", value: token, url: server.url }]);
      const page = await context.newPage();
      await page.goto(`${server.url}/admin#alerts`);
      const rows = page.getByTestId("alert-row");
      expect(await rows.count()).toBe(2);
      expect(await rows.nth(0).getAttribute("data-status")).toBe("open");
      expect(await rows.nth(0).textContent()).toContain("LLM circuit breaker open");
      expect(await rows.nth(1).getAttribute("data-status")).toBe("resolved");
      expect(await rows.nth(1).textContent()).toContain(alertId);
      expect(await page.getByTestId("alerts-summary").textContent()).toContain("1 open.");
      expect(await page.getByTestId("alerts-summary").textContent()).toContain("posted to ALERT_WEBHOOK_URL");
      await page.locator("#alerts").screenshot({ path: `${SCREENSHOT_DIR}admin-dashboard-alerts.png` });
    } finally {
      await context.close();
    }
  });
});
