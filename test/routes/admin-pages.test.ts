import { randomBytes } from "node:crypto";
import type { Firestore } from "firebase-admin/firestore";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFirestoreUserKeyStore } from "@/adapters/firestore/user-key-store";
import { deliveryDayField } from "@/core/delivery-counts";
import { newEvent } from "@/core/events";
import { createSessionToken } from "@/http/admin-session";
import { launchChromium, SCREENSHOT_DIR } from "../support/browser";
import { putDocuments } from "../support/firestore";
import type { NextServer } from "../support/next-server";
import { seedDueUser } from "../support/processor";
import { type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "admin-pages-cron-secret-0123456789";
const PASSWORD = "correct-horse-battery-staple";
const SESSION_SECRET = "admin-pages-session-secret-0123456789abcdef";
const ENCRYPTION_KEY = randomBytes(32).toString("base64");
const USER_API_KEY = "sk-or-v1-ada-own-key-TOPSECRET-0000001111";

let stack: RouteStack;
let db: Firestore;
let server: NextServer;
let browser: Browser;
const now = Date.now();

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "admin-pages",
    cronSecret: SECRET,
    env: {
      ADMIN_PASSWORD: PASSWORD,
      ADMIN_SESSION_SECRET: SESSION_SECRET,
      OPENROUTER_API_KEY: "sk-or-default-0000000000000000",
      ENCRYPTION_KEY,
      // The throttle test's attacker comes with its own X-Forwarded-For (what a proxy in front
      // would send); unset, every sign-in would share the "unknown" address with the admin's.
      TRUSTED_PROXY_HOPS: "0",
    },
  });
  ({ db, server } = stack);
  browser = await launchChromium();

  // The world the dashboard should describe.
  await seedDueUser(db, { uid: "ada", now });
  await seedDueUser(db, { uid: "bea", now, dueAt: now + 30 * 60_000 });
  await seedDueUser(db, { uid: "cy", now, dueAt: now + 5 * 3_600_000 });
  // Users of their own for the tests that change a user, so no other test depends on their order.
  await seedDueUser(db, { uid: "dee", now, dueAt: now + 10 * 3_600_000 });
  await seedDueUser(db, { uid: "eve", now, dueAt: now + 10 * 3_600_000 });
  const { loadConfig, requireKeyring } = await import("@/config");
  const keyring = requireKeyring(
    loadConfig({ NODE_ENV: "test", FIRESTORE_EMULATOR_HOST: "x", ENCRYPTION_KEY }),
  );
  await createFirestoreUserKeyStore(db, keyring).save({ uid: "ada", apiKey: USER_API_KEY, now });
  await putDocuments(db, "coachingMessages", [
    [
      "old-sent-1",
      {
        uid: "bea",
        slotId: "s1",
        status: "sent",
        wasSent: true,
        sentAt: now - 1_000,
        createdAt: now - 2_000,
        effectivenessRating: 8,
        messageType: "check_in",
        messageContent: "Earlier message one.",
      },
    ],
    [
      "old-sent-2",
      {
        uid: "cy",
        slotId: "s2",
        status: "sent",
        wasSent: true,
        sentAt: now - 1_000,
        createdAt: now - 2_000,
        effectivenessRating: 9,
        messageType: "challenge",
        messageContent: "Earlier message two.",
      },
    ],
    [
      "rejected-1",
      {
        uid: "cy",
        slotId: "s3",
        status: "rejected",
        wasSent: false,
        createdAt: now - 3_000,
        effectivenessRating: 3,
        messageType: "reminder",
        messageContent: "Too generic.",
      },
    ],
  ]);
  const dead = newEvent({
    id: "coaching.message.created_bea_dead",
    eventType: "coaching.message.created",
    aggregateId: "old-sent-1",
    aggregateType: "coachingMessage",
    payload: { messageId: "old-sent-1", uid: "bea", slotId: "s1" },
    createdBy: "test",
    now: now - 10_000,
  });
  await putDocuments(db, "events", [[dead.id, { ...dead, status: "dead_letter", attempts: 6 }]]);
  await putDocuments(db, "eventDeadLetters", [
    [
      dead.id,
      {
        event_id: dead.id,
        event_type: dead.event_type,
        payload: dead.payload,
        error_message: "Resend 503: outage",
        retry_count: 5,
        original_created_at: dead.created_at,
        created_at: now - 5_000,
      },
    ],
  ]);
  await putDocuments(db, "schedulerRuns", [
    [
      "run-old",
      {
        runId: "run-old",
        trigger: "cron",
        status: "completed",
        startedAt: now - 3 * 3_600_000,
        durationMs: 120,
        results: { usersDue: 4, jobsCreated: 3, errors: 0 },
        userResults: {},
      },
    ],
  ]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

const PAGES = ["/admin", "/admin/users", "/admin/users/ada", "/admin/runs", "/admin/events"];

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `${SCREENSHOT_DIR}${name}.png`, fullPage: true });
}

describe("admin pages without a session", () => {
  it.each(PAGES)("%s redirects to the sign-in page", async (path) => {
    const response = await fetch(`${server.url}${path}`, { redirect: "manual" });
    expect([302, 303, 307, 308]).toContain(response.status);
    expect(new URL(response.headers.get("location") ?? "", server.url).pathname).toBe("/admin/login");
  });

  it.each(["/api/admin/users", "/api/admin/users/ada", "/api/admin/runs", "/api/admin/status"])(
    "%s answers 401",
    async (path) => {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ success: false, error: expect.any(String) });
    },
  );

  it.each([
    [
      "a forged cookie",
      `${Buffer.from(JSON.stringify({ exp: now + 3_600_000 })).toString("base64url")}.forged`,
    ],
    [
      "a cookie signed with another secret",
      createSessionToken({ sessionSecret: "not-the-session-secret-0123456789abcdef", now }),
    ],
    ["an expired cookie", createSessionToken({ sessionSecret: SESSION_SECRET, now: now - 13 * 3_600_000 })],
  ])("refuses %s", async (_case, token) => {
    const cookie = `ce_admin_session=${token}`;
    const page = await fetch(`${server.url}/admin`, { redirect: "manual", headers: { cookie } });
    expect(new URL(page.headers.get("location") ?? "", server.url).pathname).toBe("/admin/login");
    expect((await fetch(`${server.url}/api/admin/status`, { headers: { cookie } })).status).toBe(401);
  });

  it("accepts a valid session cookie on the admin API", async () => {
    const cookie = `ce_admin_session=${createSessionToken({ sessionSecret: SESSION_SECRET, now })}`;
    expect((await fetch(`${server.url}/api/admin/status`, { headers: { cookie } })).status).toBe(200);
  });
});

/** What the dashboard should show for the documents as they are now, read whole (the collections are small). */
async function expectedDashboard() {
  const at = Date.now();
  const startOfDay = new Date(at).setUTCHours(0, 0, 0, 0);
  const documents = async (collection: string) =>
    (await db.collection(collection).get()).docs.map((document) => document.data());
  const [users, states, messages, deadLetters, runs] = await Promise.all([
    documents("users"),
    documents("userProcessingState"),
    documents("coachingMessages"),
    documents("eventDeadLetters"),
    documents("schedulerRuns"),
  ]);
  const due = users.map((user) => user.nextCoachingMessageDue).filter((value) => typeof value === "number");
  const lastRunAt = Math.max(0, ...runs.map((run) => run.startedAt as number));
  return {
    sentToday: messages.filter((message) => message.wasSent === true && message.sentAt >= startOfDay).length,
    gateFailuresToday: messages.filter(
      (message) => message.status === "rejected" && message.createdAt >= startOfDay,
    ).length,
    deadLetters: deadLetters.length,
    overdue: due.filter((dueAt) => dueAt <= at).length,
    dueNextHour: due.filter((dueAt) => dueAt > at && dueAt <= at + 3_600_000).length,
    // A state the key routes wrote (the own-key word) without a run has no status: never processed.
    neverProcessed: users.length - states.filter((state) => typeof state.status === "string").length,
    stale: at - lastRunAt > 2 * 3_600_000,
  };
}

describe("admin pages in Chromium", () => {
  const seen: string[] = [];
  const contexts: BrowserContext[] = [];

  /** A browser of its own with every HTML page it loads recorded, signed in when `signedIn`. */
  async function openBrowser({ signedIn }: { signedIn: boolean }): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    if (signedIn) {
      const token = createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() });
      await context.addCookies([{ name: "ce_admin_session", value: token, url: server.url }]);
    }
    const page = await context.newPage();
    page.on("response", async (response) => {
      if ((response.headers()["content-type"] ?? "").includes("text/html"))
        seen.push(await response.text().catch(() => ""));
    });
    return page;
  }

  afterAll(async () => {
    await Promise.all(contexts.map((context) => context.close()));
  });

  it("slows down repeated wrong passwords", async () => {
    const attacker = await browser.newContext({ extraHTTPHeaders: { "x-forwarded-for": "203.0.113.7" } });
    const attempt = await attacker.newPage();
    // Five guesses per address per 15-minute window: the sixth is refused, however slow the browser.
    let message = "";
    for (let tries = 0; tries < 10 && !/Too many attempts/.test(message); tries += 1) {
      await attempt.goto(`${server.url}/admin/login`);
      await attempt.getByLabel("Admin password").fill("wrong-password");
      await attempt.getByRole("button", { name: "Sign in" }).click();
      await attempt.getByTestId("login-error").waitFor();
      message = (await attempt.getByTestId("login-error").textContent()) ?? "";
    }
    expect(message).toMatch(/Too many attempts/);
    await shot(attempt, "login-throttled");
    await attacker.close();
  });

  it("signs in with the password and lands on the page it asked for", async () => {
    const page = await openBrowser({ signedIn: false });
    await page.goto(`${server.url}/admin/users`);
    await page.waitForURL(/\/admin\/login/);
    await shot(page, "login");
    await page.getByLabel("Admin password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${server.url}/admin/users`);
    expect(new URL(page.url()).pathname).toBe("/admin/users");
    expect(await page.getByTestId("users-table").isVisible()).toBe(true);
  });

  it("shows a dashboard that matches the data", async () => {
    const page = await openBrowser({ signedIn: true });
    await page.goto(`${server.url}/admin`);
    const expected = await expectedDashboard();
    // The seeded world is in it, whatever the other tests added.
    expect(expected.sentToday).toBeGreaterThanOrEqual(2);
    expect(expected.gateFailuresToday).toBeGreaterThanOrEqual(1);
    expect(await page.getByTestId("sent-today").textContent()).toBe(String(expected.sentToday));
    expect(await page.getByTestId("gate-failures-today").textContent()).toBe(
      String(expected.gateFailuresToday),
    );
    expect(await page.getByTestId("dead-letters").textContent()).toBe(String(expected.deadLetters));
    expect(await page.getByTestId("overdue").textContent()).toBe(String(expected.overdue));
    expect(await page.getByTestId("due-next-hour").textContent()).toBe(String(expected.dueNextHour));
    expect(await page.getByTestId("status-never").textContent()).toBe(String(expected.neverProcessed));
    expect(await page.getByTestId("stale-warning").isVisible()).toBe(expected.stale);
    expect(await page.getByRole("img", { name: "Messages sent and gate failures per day" }).isVisible()).toBe(
      true,
    );
    await shot(page, "dashboard");
  });

  it("lists users with search, and opens one", async () => {
    const page = await openBrowser({ signedIn: true });
    await page.goto(`${server.url}/admin/users`);
    const rows = page.getByTestId("users-table").locator("tbody tr");
    expect(await rows.count()).toBe((await db.collection("users").count().get()).data().count);
    await page.getByLabel("Email or user id").fill("bea@");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/q=bea/);
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain("bea@example.com");
    await shot(page, "users");
    // The delivery counters as the outbox writes them: 3 emails in all, 1 of them today (UTC).
    const sentAt = Date.now() - 60_000;
    await db
      .doc("userProcessingState/ada")
      .set(
        { totalEmailsSent: 3, stats: { lastEmailSentAt: sentAt }, [deliveryDayField("emails", sentAt)]: 1 },
        { merge: true },
      );
    await page.goto(`${server.url}/admin/users?q=`);
    await page.getByRole("link", { name: "ada@example.com" }).click();
    await page.waitForURL(/\/admin\/users\/ada/);
    expect(await page.getByTestId("own-key").textContent()).toBe("own key ···1111 (active)");
    expect(await page.getByTestId("emails-sent").textContent()).toBe("3 (1)");
    expect(await page.getByTestId("last-email").textContent()).toContain("ago");
    await shot(page, "user-detail");
  });

  it("generate now: a new message appears on the page", async () => {
    const page = await openBrowser({ signedIn: true });
    await page.goto(`${server.url}/admin/users/dee`);
    const before = await page.getByTestId("message").count();
    await page.getByRole("button", { name: "Generate now" }).click();
    await page.getByTestId("notice").waitFor();
    expect(await page.getByTestId("notice").textContent()).toContain("generated");
    expect(await page.getByTestId("message").count()).toBe(before + 1);
    await shot(page, "user-generated");
  });

  it("suspend: the status changes, and resume changes it back", async () => {
    const page = await openBrowser({ signedIn: true });
    await page.goto(`${server.url}/admin/users/eve`);
    await page.getByLabel("Reason").fill("asked for a break");
    await page.getByRole("button", { name: "Suspend" }).click();
    await page.getByTestId("notice").filter({ hasText: "Suspended." }).waitFor();
    expect(await page.getByTestId("user-status").textContent()).toBe("suspended");
    expect((await db.doc("userProcessingState/eve").get()).get("suspendReason")).toBe("asked for a break");
    await shot(page, "user-suspended");
    await page.getByRole("button", { name: "Resume" }).click();
    await expect.poll(() => page.getByTestId("user-status").textContent()).toBe("waiting");
  });

  it("runs page shows the runs", async () => {
    const page = await openBrowser({ signedIn: true });
    await page.goto(`${server.url}/admin/runs`);
    expect(await page.getByText("4 due · 3 dispatched · 0 errors").isVisible()).toBe(true);
    await shot(page, "runs");
  });

  it("replaying a dead letter takes it off the list", async () => {
    const page = await openBrowser({ signedIn: true });
    await page.goto(`${server.url}/admin/events`);
    const letterId = "coaching.message.created_bea_dead";
    const row = page.getByTestId("dead-letter").filter({ hasText: letterId });
    expect(await row.count()).toBe(1);
    await shot(page, "events");
    await page.getByRole("button", { name: `Replay ${letterId}` }).click();
    await page.waitForURL(/notice=/);
    expect(await row.count()).toBe(0);
    expect((await db.doc(`eventDeadLetters/${letterId}`).get()).exists).toBe(false);
  });

  it("requeues the retriable dead letters in bulk once the operator types their count", async () => {
    const page = await openBrowser({ signedIn: true });
    const letters = ["bulk-a", "bulk-b"].map((suffix) =>
      newEvent({
        id: `user.coaching.enabled_${suffix}`,
        eventType: "user.coaching.enabled",
        aggregateId: "cy",
        aggregateType: "user",
        payload: { uid: "cy" },
        createdBy: "test",
        now: now - 2 * 24 * 3_600_000,
      }),
    );
    await putDocuments(
      db,
      "events",
      letters.map((letter) => [letter.id, { ...letter, status: "dead_letter", attempts: 40 }]),
    );
    await putDocuments(
      db,
      "eventDeadLetters",
      letters.map((letter) => [
        letter.id,
        {
          event_id: letter.id,
          event_type: letter.event_type,
          payload: letter.payload,
          error_message: "retried for 24 h without success",
          retry_count: 39,
          original_created_at: letter.created_at,
          created_at: now - 1_000,
          retriable: true,
        },
      ]),
    );
    const bulkRows = page.getByTestId("dead-letter").filter({ hasText: "user.coaching.enabled_bulk-" });
    await page.goto(`${server.url}/admin/events`);
    const form = page.getByTestId("requeue-dead-letters");
    await form.getByLabel(/Type 2 to confirm/).fill("3");
    await form.getByRole("button", { name: "Requeue retriable dead letters" }).click();
    await page.getByTestId("notice").filter({ hasText: "to confirm" }).waitFor();
    expect(await bulkRows.count()).toBe(2);
    await page
      .getByTestId("requeue-dead-letters")
      .getByLabel(/Type 2 to confirm/)
      .fill("2");
    await page.getByRole("button", { name: "Requeue retriable dead letters" }).click();
    await page.getByTestId("notice").filter({ hasText: "Requeued 2" }).waitFor();
    expect(await bulkRows.count()).toBe(0);
    for (const letter of letters) {
      expect((await db.doc(`events/${letter.id}`).get()).get("status")).not.toBe("dead_letter");
    }
  });

  it("no page shows a raw secret or a user's API key", async () => {
    const page = await openBrowser({ signedIn: true });
    for (const path of PAGES) {
      const response = await page.goto(`${server.url}${path}`);
      expect(response?.status(), path).toBe(200);
      seen.push(await page.content());
    }
    const html = seen.join("\n");
    expect(html).toContain("ada@example.com");
    for (const secret of [PASSWORD, SESSION_SECRET, SECRET, USER_API_KEY, "TOPSECRET", ENCRYPTION_KEY])
      expect(html).not.toContain(secret);
  });

  it("signs out: the admin pages ask for the password again", async () => {
    const page = await openBrowser({ signedIn: true });
    await page.goto(`${server.url}/admin`);
    expect(new URL(page.url()).pathname).toBe("/admin");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/admin\/login/);
    await page.goto(`${server.url}/admin`);
    await page.waitForURL(/\/admin\/login/);
    expect(new URL(page.url()).pathname).toBe("/admin/login");
    expect(await page.getByLabel("Admin password").isVisible()).toBe(true);
  });
});
