/**
 * The operator's figures on the real Next.js server: a scheduler tick rolls up a scripted hour
 * (test/support/metrics-script.ts), `GET /api/admin/metrics` answers its exact counts, and the
 * dashboard shows the charts and the engagement by rating and by type, in Chromium.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DAY_MS, dayKey, HOUR_MS, hourKey, hourStartOf } from "@/core/metrics-hours";
import { createSessionToken } from "@/http/admin-session";
import { launchChromium, SCREENSHOT_DIR } from "../support/browser";
import { eventually } from "../support/eventually";
import type { EmulatorHandle } from "../support/firestore";
import { scriptedModelRates, seedMetricsScript } from "../support/metrics-script";
import type { NextServer } from "../support/next-server";
import { quietWrites } from "../support/quiet-writes";
import { caller, type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "metrics-test-secret-0123456789abcd";
const SESSION_SECRET = "metrics-test-session-secret-0123456789abcdef";
const SCHEDULER = "/api/coaching/generateCoachingMessage/scheduler";

let stack: RouteStack;
let handle: EmulatorHandle;
let db: Firestore;
let projectId: string;
let server: NextServer;
let browser: Browser;
/** The scripted hour: two hours before the current one, so it is settled whatever the minute. */
const scriptedHour = hourStartOf(Date.now()) - 2 * HOUR_MS;

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "admin-metrics",
    cronSecret: SECRET,
    env: { ADMIN_PASSWORD: "metrics-admin-password-0123", ADMIN_SESSION_SECRET: SESSION_SECRET },
  });
  ({ handle, db, projectId, server } = stack);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

const call = caller(() => server, { method: "GET", token: SECRET });

describe("GET /api/admin/metrics: refusals write nothing", () => {
  it.each([
    ["/api/admin/metrics", "GET", null, 401],
    ["/api/admin/metrics", "GET", "wrong-wrong-wrong-wrong-wrong-000", 401],
    ["/api/admin/metrics?range=7d", "GET", SECRET, 400],
    ["/api/admin/metrics?verbose=1", "GET", SECRET, 400],
    ["/api/admin/metrics", "POST", SECRET, 405],
  ] as const)("%s (%s), one of the refused cases", async (path, method, token, status) => {
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    const response = await call(path, { method, token });
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual({ success: false, error: expect.any(String) });
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
  });
});

describe("metrics after a scheduler tick", () => {
  beforeAll(async () => {
    await seedMetricsScript(db, { hourStart: scriptedHour });
    // The hourly cron: the tick, then, after its response, the rollup of the hours not yet
    // counted. Its last documents are engagement's (today's and yesterday's, after the hours).
    const tick = await call(SCHEDULER);
    expect(tick.status).toBe(200);
    const tickAt = Date.now();
    await eventually(
      () =>
        Promise.all(
          [
            `metricsHourly/${hourKey(scriptedHour)}`,
            `metricsEngagement/${dayKey(tickAt)}`,
            `metricsEngagement/${dayKey(tickAt - DAY_MS)}`,
          ].map(async (path) => (await db.doc(path).get()).exists),
        ),
      (written) => written.every(Boolean),
    );
  }, 60_000);

  it("stored the scripted hour's figures, counted once", async () => {
    const hour = await db.doc(`metricsHourly/${hourKey(scriptedHour)}`).get();
    expect(hour.exists).toBe(true);
    expect(hour.data()?.figures.messages).toEqual({
      sent: 4,
      approved: 1,
      rejected: 2,
      failed: 1,
      delivered: 4,
    });
  });

  it("answers the exact counts of the scripted hour, and its derived rates", async () => {
    const response = await call("/api/admin/metrics?range=24h");
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({ success: true, range: "24h", bucket: "hour" });
    expect(body.series).toHaveLength(24);
    const bucket = body.series.find((entry: { key: string }) => entry.key === hourKey(scriptedHour));
    expect(bucket.figures).toMatchObject({
      messages: { sent: 4, approved: 1, rejected: 2, failed: 1, delivered: 4 },
      slotsCompleted: 5,
      scheduler: {
        runs: 3,
        cronTicks: 1,
        continuations: 1,
        failedRuns: 1,
        usersDue: 12,
        dispatched: 7,
        deferred: 2,
        errors: 1,
        runsWithMore: 1,
      },
      outbox: { processed: 3, deadLettered: 1, claims: 6 },
    });
    expect(bucket.rates).toMatchObject({
      generated: 7,
      gatedOut: 2,
      outboxRetries: 2,
      llm: {
        sampledCalls: 10,
        estimatedCalls: 10,
        errorRate: 0.1,
        latencyP50Ms: 1_500,
        latencyP95Ms: 30_000,
      },
    });
    // The hour before holds the message sent at its last millisecond and the older cron run.
    expect(body.totals.figures.messages.delivered).toBe(5);
    expect(body.totals.figures.scheduler.runs).toBe(4);
    expect(body.snapshot).toMatchObject({ usersTotal: 4, pendingEvents: 1, deadLetters: 1 });
    // The tick's sweep bootstrapped w2 (no due time, no mirror) and wrote its mirror; the
    // snapshot after it counts w1, w2 and s1 enabled, s1 suspended, e1 off.
    expect(body.snapshot).toMatchObject({ usersEnabled: 3, usersEnabledSuspended: 1, usersDisabled: 1 });
    expect(body.users).toEqual({
      asOf: body.snapshot.at,
      total: 4,
      enabled: 3,
      active: 2,
      suspended: 1,
      disabled: 1,
      notLookedAt: 0,
    });
    // Per model in the scripted hour: every attempt read, so the estimates are the counts.
    expect(bucket.rates.llm.byModel).toEqual(scriptedModelRates());
    // Over the 24 hours: the coach's call at the hour before's last millisecond too, and the cost
    // per hour over the hours rolled up.
    const hoursRolledUp = body.series.reduce(
      (total: number, entry: { hours: number }) => total + entry.hours,
      0,
    );
    expect(body.totals.rates.llm.byModel).toMatchObject([
      {
        model: "test/coach",
        calls: 9,
        estimatedCalls: 9,
        errors: 1,
        estimatedCostUsd: expect.closeTo(0.008, 9),
      },
      { model: "test/scorer", calls: 2, estimatedCalls: 2, errors: 0 },
    ]);
    expect(body.totals.rates.llm.byModel[0].costPerHourUsd).toBeCloseTo(0.008 / hoursRolledUp, 9);
    const nine = body.engagement.byRating.find((row: { rating: number }) => row.rating === 9);
    expect(nine).toEqual({
      rating: 9,
      sent: 4,
      delivered: 4,
      opened: 3,
      clicked: 1,
      helpful: 2,
      rated: 2,
      pushDelivered: 1,
    });
  });

  it("answers 14 days, today from its hours so far", async () => {
    const body = await (await call("/api/admin/metrics?range=14d")).json();
    expect(body).toMatchObject({ success: true, range: "14d", bucket: "day" });
    expect(body.series).toHaveLength(14);
    expect(body.totals.figures.messages).toEqual({
      sent: 5,
      approved: 1,
      rejected: 2,
      failed: 1,
      delivered: 5,
    });
  });

  it("shows the charts and the engagement by rating and by type on the dashboard, in Chromium", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    try {
      const token = createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() });
      await context.addCookies([{ name: "ce_admin_session", value: token, url: server.url }]);
      const page = await context.newPage();
      // The old engagement page leads to the dashboard's section.
      await page.goto(`${server.url}/admin/engagement`);
      await page.waitForURL(`${server.url}/admin#engagement`);
      expect(await page.getByTestId("metrics-sent-24h").textContent()).toBe("5");
      expect(await page.getByTestId("metrics-gated-out-24h").textContent()).toBe("2");
      expect(await page.getByTestId("metrics-dead-lettered-24h").textContent()).toBe("1");
      expect(await page.getByTestId("metrics-llm-p95-24h").textContent()).toBe("≤ 30 s");
      expect(await page.getByTestId("metrics-users-enabled").textContent()).toBe("3");
      expect(await page.getByTestId("metrics-users-active").textContent()).toBe("2");
      expect(await page.getByTestId("metrics-users-disabled").textContent()).toBe("1");
      expect(await page.getByTestId("metrics-users-not-looked-at").textContent()).toBe("0");
      // The per-model table of the 24 hours: calls, sampled, error rate, p50, p95, cost, cost per hour.
      const modelRow = (name: string) =>
        page
          .getByTestId("metrics-model-row")
          .filter({ has: page.getByRole("rowheader", { name, exact: true }) });
      // Cost per hour: $0.008 over the hours the tick rolled up (6 a run; 5 if its budget ran out).
      await expect(modelRow("test/coach").textContent()).resolves.toMatch(
        /^test\/coach9911\.1%≤ 1\.5 s≤ 30 s\$0\.008\$0\.001[36]$/,
      );
      await expect(modelRow("test/scorer").textContent()).resolves.toMatch(
        /^test\/scorer220%≤ 1 s≤ 1 s\$0\.002\$0\.000[34]$/,
      );
      expect(
        await page.getByRole("img", { name: "LLM calls per hour by model (estimated)" }).isVisible(),
      ).toBe(true);
      await page
        .getByTestId("metrics-models")
        .screenshot({ path: `${SCREENSHOT_DIR}admin-dashboard-metrics-models.png` });
      expect(
        await page.getByRole("img", { name: "Messages sent, gated out and failed per hour" }).isVisible(),
      ).toBe(true);
      expect(
        await page
          .getByRole("img", { name: "Outbox events processed, retried and dead-lettered per day" })
          .isVisible(),
      ).toBe(true);
      const row = (testId: string, name: string) =>
        page
          .getByTestId(testId)
          .getByTestId("engagement-row")
          .filter({ has: page.getByRole("rowheader", { name, exact: true }) });
      // Rating 9: 4 sent, opened 3 (75%), clicked 1 (25%), marked helpful 2 (50%).
      await expect(row("engagement-by-rating", "9").textContent()).resolves.toMatch(
        /^94.*75% \(3\).*25% \(1\).*50% \(2\)/,
      );
      await expect(row("engagement-by-rating", "6").textContent()).resolves.toMatch(
        /^61.*0% \(0\).*0% \(0\)/,
      );
      await expect(row("engagement-by-type", "challenge").textContent()).resolves.toMatch(/^challenge1/);
      await page.screenshot({ path: `${SCREENSHOT_DIR}admin-dashboard-metrics.png`, fullPage: true });
      await page
        .locator("#engagement")
        .screenshot({ path: `${SCREENSHOT_DIR}admin-dashboard-engagement.png` });
    } finally {
      await context.close();
    }
  });
});
