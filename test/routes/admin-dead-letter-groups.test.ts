/**
 * The events page's dead letters grouped by event type and normalised error, and the replay of a
 * whole group, confirmed by its count, in Chromium against the real server.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { messageCreatedEventId, newEvent } from "@/core/events";
import { createSessionToken } from "@/http/admin-session";
import type { MailCatcher } from "../../scripts/local-stack/mail-catcher";
import { launchChromium, SCREENSHOT_DIR } from "../support/browser";
import { eventually } from "../support/eventually";
import { putDocuments } from "../support/firestore";
import type { NextServer } from "../support/next-server";
import { type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "dead-letter-groups-cron-secret-0123456789";
const PASSWORD = "dead-letter-groups-password";
const SESSION_SECRET = "dead-letter-groups-session-secret-0123456789abcdef";

let stack: RouteStack;
let db: Firestore;
let server: NextServer;
let catcher: MailCatcher;
let browser: Browser;
const contexts: BrowserContext[] = [];
const now = Date.now();

/**
 * A sent message whose delivery event failed for good with `error`: the user, the message, the
 * event (dead-lettered) and its dead letter, as the outbox leaves them.
 */
async function seedDeadDelivery(uid: string, error: string, deadAt: number) {
  const slotId = `${uid}_1`;
  await putDocuments(db, "users", [
    [
      uid,
      {
        email: `${uid}@example.com`,
        timezone: "UTC",
        coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
        nextCoachingMessageDue: now + 3_600_000,
      },
    ],
  ]);
  await putDocuments(db, "coachingMessages", [
    [
      slotId,
      {
        id: slotId,
        uid,
        slotId,
        messageContent: `A message for ${uid}.`,
        pushNotificationText: "A note for you",
        status: "sent",
        journalEntryId: `coaching_${slotId}`,
        delivery: {
          email: { status: "pending", providerId: null, error: null, attemptedAt: null },
          push: { status: "pending", text: null },
        },
      },
    ],
  ]);
  const event = newEvent({
    id: messageCreatedEventId(slotId),
    eventType: "coaching.message.created",
    aggregateId: slotId,
    aggregateType: "coachingMessage",
    payload: { messageId: slotId, uid, slotId },
    createdBy: "test",
    now: deadAt - 3_600_000,
  });
  await putDocuments(db, "events", [[event.id, { ...event, status: "dead_letter", attempts: 6 }]]);
  await putDocuments(db, "eventDeadLetters", [
    [
      event.id,
      {
        event_id: event.id,
        event_type: event.event_type,
        payload: event.payload,
        error_message: error,
        retry_count: 5,
        original_created_at: event.created_at,
        created_at: deadAt,
        retriable: true,
      },
    ],
  ]);
  return event.id;
}

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "dead-letter-groups",
    cronSecret: SECRET,
    env: { ADMIN_PASSWORD: PASSWORD, ADMIN_SESSION_SECRET: SESSION_SECRET },
  });
  ({ db, server, catcher } = stack);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await Promise.all(contexts.map((context) => context.close()));
  await browser?.close();
  await stack?.stop();
});

async function signedInPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  const token = createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() });
  await context.addCookies([{ name: "ce_admin_session", value: token, url: server.url }]);
  return context.newPage();
}

const groupRow = (page: Page, signature: string) =>
  page.getByTestId("dead-letter-group").filter({ hasText: signature });

describe("dead letters grouped on the events page", () => {
  const outage: string[] = [];
  const rateLimited: string[] = [];

  beforeAll(async () => {
    for (const [index, uid] of ["gina", "hal", "ivo"].entries())
      outage.push(
        await seedDeadDelivery(uid, `Resend 503 for evt_${1000 + index}`, now - (3 - index) * 60_000),
      );
    for (const uid of ["jo", "kit"])
      rateLimited.push(await seedDeadDelivery(uid, `Resend 429 for evt_${uid}9`, now));
  });

  it("shows one group per event type and normalised error, with its count and first and last seen", async () => {
    const page = await signedInPage();
    await page.goto(`${server.url}/admin/events`);
    expect(await page.getByTestId("dead-letter-group").count()).toBe(2);
    const outageRow = groupRow(page, "Resend 503 for <id>");
    expect(await outageRow.getByTestId("group-count").textContent()).toBe("3");
    expect(await outageRow.textContent()).toContain("coaching.message.created");
    expect(await outageRow.textContent()).toContain("latest: Resend 503 for evt_1002");
    expect(await groupRow(page, "Resend 429 for <id>").getByTestId("group-count").textContent()).toBe("2");
    const cells = await outageRow.locator("td").allTextContents();
    const format = (at: number) =>
      new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", dateStyle: "medium", timeStyle: "short" }).format(
        at,
      );
    expect(cells[3]).toBe(format(now - 3 * 60_000));
    expect(cells[4]).toBe(format(now - 60_000));
    await page.screenshot({ path: `${SCREENSHOT_DIR}events-dead-letter-groups.png`, fullPage: true });
  });

  it("refuses a group replay whose count changed since the page was shown, replaying nothing", async () => {
    const page = await signedInPage();
    await page.goto(`${server.url}/admin/events`);
    // Another failure of the same kind lands while the operator looks at the page.
    outage.push(await seedDeadDelivery("lou", "Resend 503 for evt_2000", now));
    await page.getByRole("button", { name: /Replay the 3 coaching\.message\.created dead letters/ }).click();
    await page.getByTestId("notice").filter({ hasText: "Nothing replayed" }).waitFor();
    expect(await page.getByTestId("notice").textContent()).toContain("now has 4 dead letters, not 3");
    for (const eventId of outage) {
      expect((await db.doc(`events/${eventId}`).get()).get("status")).toBe("dead_letter");
      expect((await db.doc(`eventDeadLetters/${eventId}`).get()).exists).toBe(true);
    }
  });

  it("replays a whole group with its confirmed count: its events are queued and delivered again, the other group stays", async () => {
    const page = await signedInPage();
    await page.goto(`${server.url}/admin/events`);
    expect(await groupRow(page, "Resend 503 for <id>").getByTestId("group-count").textContent()).toBe("4");
    await page.getByRole("button", { name: /Replay the 4 coaching\.message\.created dead letters/ }).click();
    await page.getByTestId("notice").filter({ hasText: "Replayed 4" }).waitFor();
    expect(await groupRow(page, "Resend 503 for <id>").count()).toBe(0);
    expect(await groupRow(page, "Resend 429 for <id>").getByTestId("group-count").textContent()).toBe("2");
    await page.screenshot({ path: `${SCREENSHOT_DIR}events-dead-letter-group-replayed.png`, fullPage: true });
    for (const eventId of outage) {
      expect((await db.doc(`eventDeadLetters/${eventId}`).get()).exists).toBe(false);
      // Pending again (attempts from 0), then delivered by the drain the action starts.
      expect(["pending", "processing", "processed"]).toContain(
        (await db.doc(`events/${eventId}`).get()).get("status"),
      );
    }
    await eventually(
      async () =>
        Promise.all(outage.map(async (eventId) => (await db.doc(`events/${eventId}`).get()).get("status"))),
      (statuses) => statuses.every((status) => status === "processed"),
    );
    const delivered = catcher.emails.map((email) => email.to[0]).sort();
    expect(delivered).toEqual(["gina@example.com", "hal@example.com", "ivo@example.com", "lou@example.com"]);
    for (const eventId of rateLimited) {
      expect((await db.doc(`events/${eventId}`).get()).get("status")).toBe("dead_letter");
      expect((await db.doc(`eventDeadLetters/${eventId}`).get()).exists).toBe(true);
    }
  });

  it("the events page, with its group replay forms, needs an admin session", async () => {
    const response = await fetch(`${server.url}/admin/events`, { redirect: "manual" });
    expect([302, 303, 307, 308]).toContain(response.status);
  });
});
