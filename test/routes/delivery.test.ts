/**
 * The delivery loop on the real Next.js server: the one-click unsubscribe URL every email carries
 * (RFC 8058), and Resend's webhook, with payloads signed by the `svix` library Resend signs with.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { Browser } from "playwright-core";
import { Webhook } from "svix";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFirestoreMetricsStore } from "@/adapters/firestore/metrics-store";
import { suppressionIdFor } from "@/core/email-address";
import { signUnsubscribeToken } from "@/core/unsubscribe";
import { createSessionToken } from "@/http/admin-session";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import { rollUpMetrics } from "@/pipeline/roll-up-metrics";
import type { MailCatcher } from "../../scripts/local-stack/mail-catcher";
import { launchChromium, SCREENSHOT_DIR } from "../support/browser";
import { eventually } from "../support/eventually";
import { type EmulatorHandle, putDocuments } from "../support/firestore";
import type { NextServer } from "../support/next-server";
import { quietWrites } from "../support/quiet-writes";
import { putSentMessage } from "../support/sent-message";
import { caller, type RouteStack, startRouteStack } from "../support/stack";

const CRON_SECRET = "delivery-test-secret-0123456789abc";
const SESSION_SECRET = "delivery-session-secret-0123456789abcdef";
const WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const UNSUBSCRIBE_SECRET = "delivery-unsubscribe-secret-0123456789";

let stack: RouteStack;
let handle: EmulatorHandle;
let catcher: MailCatcher;
let db: Firestore;
let projectId: string;
let server: NextServer;
let browser: Browser;

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "delivery-route",
    cronSecret: CRON_SECRET,
    env: {
      UNSUBSCRIBE_SECRET,
      UNSUBSCRIBE_MAILTO: "unsubscribe@coach.example",
      RESEND_WEBHOOK_SECRET: WEBHOOK_SECRET,
      ADMIN_PASSWORD: "delivery-admin-password",
      ADMIN_SESSION_SECRET: SESSION_SECRET,
    },
  });
  ({ handle, catcher, db, projectId, server } = stack);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

const call = caller(() => server, { method: "POST", token: CRON_SECRET });
const writes = () => handle.emulator.stats(projectId).writes;

async function seedUser(uid: string) {
  await putDocuments(db, "users", [
    [
      uid,
      {
        email: `${uid}@example.com`,
        timezone: "UTC",
        coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
        nextCoachingMessageDue: Date.now() + 3_600_000,
      },
    ],
  ]);
}

/** A sent, journaled message and its delivery event, delivered through the process-event route. */
async function deliverMessage(uid: string, slot: string): Promise<StoredMessage> {
  const { messageId, eventId } = await putSentMessage(db, { uid, slot, at: Date.now() });
  expect((await call("/api/events/process-event", { body: { event_id: eventId } })).status).toBe(202);
  await eventually(
    async () => (await db.doc(`events/${eventId}`).get()).get("status"),
    (status) => status === "processed",
  );
  return (await db.doc(`coachingMessages/${messageId}`).get()).data() as StoredMessage;
}

function unsubscribeUrlOf(to: string): string {
  const email = catcher.emails.find((caught) => caught.to[0] === to);
  const header = email?.headers?.["List-Unsubscribe"] ?? "";
  const url = /^<(https?:[^>]+)>/.exec(header)?.[1];
  if (!url) throw new Error(`no unsubscribe URL in ${JSON.stringify(header)}`);
  return url;
}

const oneClick = (url: string, body = "List-Unsubscribe=One-Click") =>
  fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });

function signed(
  payload: unknown,
  { id = `msg_${crypto.randomUUID().replaceAll("-", "")}`, at = new Date() } = {},
) {
  const body = JSON.stringify(payload);
  const signature = new Webhook(WEBHOOK_SECRET).sign(id, at, body);
  return {
    id,
    body,
    headers: {
      "content-type": "application/json",
      "svix-id": id,
      "svix-timestamp": String(Math.floor(at.getTime() / 1_000)),
      "svix-signature": signature,
    },
  };
}

const postWebhook = (delivery: { body: string; headers: Record<string, string> }) =>
  fetch(`${server.url}/api/webhooks/resend`, {
    method: "POST",
    headers: delivery.headers,
    body: delivery.body,
  });

const emailEvent = (type: string, emailId: string, to: string, extra: Record<string, unknown> = {}) => ({
  type,
  created_at: new Date().toISOString(),
  data: { email_id: emailId, created_at: new Date().toISOString(), to: [to], subject: "A note", ...extra },
});

describe("one-click unsubscribe", () => {
  it("every email carries List-Unsubscribe (HTTPS URL and mailto) and List-Unsubscribe-Post", async () => {
    await seedUser("ada");
    await deliverMessage("ada", "1");
    const email = catcher.emails.find((caught) => caught.to[0] === "ada@example.com");
    expect(email?.headers?.["List-Unsubscribe-Post"]).toBe("List-Unsubscribe=One-Click");
    expect(email?.headers?.["List-Unsubscribe"]).toMatch(
      new RegExp(
        `^<${server.url}/unsubscribe\\?token=[^>]+>, <mailto:unsubscribe@coach\\.example\\?subject=unsubscribe>$`,
      ),
    );
    // The footer links to the same page.
    expect(email?.html).toContain(unsubscribeUrlOf("ada@example.com"));
  });

  it("GET shows a confirmation page whose button posts, and changes nothing", async () => {
    const url = unsubscribeUrlOf("ada@example.com");
    const writesBefore = await quietWrites(writes);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('<form method="post"');
    expect(html).toContain('name="List-Unsubscribe" value="One-Click"');
    expect(html).toContain("a**@example.com");
    expect(await quietWrites(writes)).toBe(writesBefore);
    expect((await db.doc("users/ada").get()).get("coachingConfig.emailNotifications")).toBeUndefined();
  });

  it("GET speaks Spanish to a browser that asks for it (Accept-Language), and changes nothing", async () => {
    const url = unsubscribeUrlOf("ada@example.com");
    const writesBefore = await quietWrites(writes);
    const response = await fetch(url, { headers: { "accept-language": "es-ES,es;q=0.9,en;q=0.8" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-language")).toBe("es");
    const html = await response.text();
    expect(html).toContain('<html lang="es">');
    expect(html).toContain("¿Darte de baja de los correos de coaching?");
    expect(html).toContain("Dejaremos de enviar correos de coaching a a**@example.com.");
    expect(html).toContain(">Darme de baja</button>");
    expect(await quietWrites(writes)).toBe(writesBefore);
  });

  it.each([
    [
      "another user's uid with ada's signature",
      (token: string) => `v1.${Buffer.from("bea").toString("base64url")}.${token.split(".")[2]}`,
    ],
    ["a garbled signature", (token: string) => `${token.slice(0, -4)}AAAA`],
    ["no token at all", () => ""],
    [
      "a uid no user document can have ('/'), read before any signature check",
      (token: string) => `v1.${Buffer.from("users/x").toString("base64url")}.${token.split(".")[2]}`,
    ],
  ])("a forged token (%s) gets 400 and nothing is written", async (_case, forge) => {
    await seedUser("bea");
    const url = new URL(unsubscribeUrlOf("ada@example.com"));
    url.searchParams.set("token", forge(url.searchParams.get("token") ?? ""));
    const writesBefore = await quietWrites(writes);
    const posted = await oneClick(url.toString());
    expect(posted.status).toBe(400);
    expect(await posted.json()).toEqual({ success: false, error: expect.any(String) });
    expect((await fetch(url)).status).toBe(400);
    expect(await quietWrites(writes)).toBe(writesBefore);
    expect((await db.doc("users/bea").get()).get("coachingConfig.emailNotifications")).toBeUndefined();
  });

  it("a one-click POST with a body far larger than the form gets 400 and nothing is written", async () => {
    await seedUser("fin");
    const token = signUnsubscribeToken({ secret: UNSUBSCRIBE_SECRET, uid: "fin", email: "fin@example.com" });
    const writesBefore = await quietWrites(writes);
    const response = await oneClick(
      `${server.url}/unsubscribe?token=${encodeURIComponent(token)}`,
      `List-Unsubscribe=One-Click&padding=${"x".repeat(2 * 1_048_576)}`,
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ success: false, error: expect.stringContaining("too large") });
    expect(await quietWrites(writes)).toBe(writesBefore);
    expect((await db.doc("users/fin").get()).get("coachingConfig.emailNotifications")).toBeUndefined();
  });

  it("a POST without List-Unsubscribe=One-Click gets 400 and nothing is written", async () => {
    const writesBefore = await quietWrites(writes);
    const response = await oneClick(unsubscribeUrlOf("ada@example.com"), "List-Unsubscribe=Something");
    expect(response.status).toBe(400);
    expect(await quietWrites(writes)).toBe(writesBefore);
  });

  it("one-click POST turns email off (200, again 200 when already off), and the next message sends no email", async () => {
    const url = unsubscribeUrlOf("ada@example.com");
    const first = await oneClick(url);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ success: true, emailNotifications: false, alreadyOff: false });
    const user = (await db.doc("users/ada").get()).data();
    expect(user?.coachingConfig).toMatchObject({ emailNotifications: false, enableCoachingMessages: true });
    const writesBefore = await quietWrites(writes);
    const again = await oneClick(url);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ alreadyOff: true });
    expect(await quietWrites(writes)).toBe(writesBefore);

    const emailsBefore = catcher.emails.length;
    const next = await deliverMessage("ada", "2");
    expect(next.delivery.email.status).toBe("skipped");
    expect(catcher.emails).toHaveLength(emailsBefore);
  });
});

describe("Resend webhook", () => {
  it("a valid permanent bounce suppresses the address; the next message to it is not emailed", async () => {
    await seedUser("cy");
    const message = await deliverMessage("cy", "1");
    const bounce = signed(
      emailEvent("email.bounced", message.emailProviderId ?? "", "cy@example.com", {
        bounce: { type: "Permanent", subType: "General", message: "mailbox does not exist" },
      }),
    );
    const response = await postWebhook(bounce);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ success: true, outcome: "applied" });
    const suppression = (
      await db.doc(`emailSuppressions/${suppressionIdFor("cy@example.com")}`).get()
    ).data();
    expect(suppression).toMatchObject({ address: "cy@example.com", reason: "bounce", uid: "cy" });

    const emailsBefore = catcher.emails.length;
    const next = await deliverMessage("cy", "2");
    expect(next.delivery.email).toMatchObject({
      status: "suppressed",
      error: expect.stringContaining("bounce"),
    });
    expect(catcher.emails).toHaveLength(emailsBefore);
  });

  it("records a delivery on the message, and a replayed delivery (same svix-id) is ignored", async () => {
    await seedUser("dee");
    const message = await deliverMessage("dee", "1");
    const delivered = signed(emailEvent("email.delivered", message.emailProviderId ?? "", "dee@example.com"));
    expect(await (await postWebhook(delivered)).json()).toEqual({ success: true, outcome: "applied" });
    const recorded = (await db.doc(`coachingMessages/${message.id}`).get()).data();
    expect(recorded?.emailEvents?.delivered).toMatchObject({ firstAt: expect.any(Number), detail: null });
    expect(recorded?.emailDeliveredCount).toBe(1);

    const replay = await postWebhook(delivered);
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({ success: true, outcome: "duplicate" });
    expect((await db.doc(`coachingMessages/${message.id}`).get()).data()).toEqual(recorded);
  });

  it.each([
    [
      "a bad signature",
      () => {
        const delivery = signed(emailEvent("email.complained", "any", "dee@example.com"));
        return {
          ...delivery,
          headers: {
            ...delivery.headers,
            "svix-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
          },
        };
      },
    ],
    [
      "a body changed after signing",
      () => {
        const delivery = signed(emailEvent("email.delivered", "any", "dee@example.com"));
        return { ...delivery, body: delivery.body.replace("email.delivered", "email.complained") };
      },
    ],
    [
      "a timestamp 6 minutes old",
      () =>
        signed(emailEvent("email.complained", "any", "dee@example.com"), {
          at: new Date(Date.now() - 6 * 60_000),
        }),
    ],
    [
      "no signature headers",
      () => ({ body: JSON.stringify(emailEvent("email.complained", "any", "dee@example.com")), headers: {} }),
    ],
  ])("%s gets 401 and nothing is written", async (_case, delivery) => {
    const writesBefore = await quietWrites(writes);
    const response = await postWebhook(delivery());
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ success: false, error: expect.any(String) });
    expect(await quietWrites(writes)).toBe(writesBefore);
    expect((await db.doc("users/dee").get()).get("coachingConfig.emailNotifications")).toBeUndefined();
  });

  it("refuses a body far larger than any Resend event (400) before reading it whole, writing nothing", async () => {
    const writesBefore = await quietWrites(writes);
    // Signed, so only its size can be what refuses it.
    const oversized = signed({
      ...emailEvent("email.delivered", "any", "dee@example.com"),
      padding: "x".repeat(2 * 1_048_576),
    });
    const response = await postWebhook(oversized);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ success: false, error: expect.stringContaining("too large") });
    expect(await quietWrites(writes)).toBe(writesBefore);
  });

  it("acknowledges an event type it does not use with 200, writing nothing", async () => {
    const writesBefore = await quietWrites(writes);
    const response = await postWebhook(
      signed({ type: "contact.created", created_at: new Date().toISOString(), data: { id: "c1" } }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ success: true, outcome: "ignored" });
    expect(await quietWrites(writes)).toBe(writesBefore);
  });
});

describe("in Chromium", () => {
  it("the unsubscribe page's button turns email off and says so", async () => {
    await seedUser("eli");
    await deliverMessage("eli", "1");
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(unsubscribeUrlOf("eli@example.com"));
      expect((await db.doc("users/eli").get()).get("coachingConfig.emailNotifications")).toBeUndefined();
      await page.getByRole("button", { name: "Unsubscribe" }).click();
      await page.getByRole("heading", { name: "You are unsubscribed" }).waitFor();
      expect((await db.doc("users/eli").get()).get("coachingConfig.emailNotifications")).toBe(false);
    } finally {
      await context.close();
    }
  });

  it("an admin sees the suppression list and lifts a suppression", async () => {
    const anonymous = await fetch(`${server.url}/admin/suppressions`, { redirect: "manual" });
    expect(new URL(anonymous.headers.get("location") ?? "", server.url).pathname).toBe("/admin/login");
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const token = createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() });
      await context.addCookies([{ name: "ce_admin_session", value: token, url: server.url }]);
      const page = await context.newPage();
      await page.goto(`${server.url}/admin/suppressions`);
      const row = page.getByTestId("suppression").filter({ hasText: "cy@example.com" });
      await expect(row.textContent()).resolves.toContain("Permanent/General");
      await page.screenshot({ path: `${SCREENSHOT_DIR}admin-suppressions.png`, fullPage: true });
      await page.getByRole("button", { name: "Lift the suppression of cy@example.com" }).click();
      await page.getByTestId("notice").filter({ hasText: "Suppression lifted" }).waitFor();
      expect((await db.doc(`emailSuppressions/${suppressionIdFor("cy@example.com")}`).get()).exists).toBe(
        false,
      );
    } finally {
      await context.close();
    }
  });
});

describe("admin: suppressions beyond the latest page", () => {
  it("an admin finds any address on the list, however many were suppressed since, and can lift it", async () => {
    const now = Date.now();
    const entry = (address: string, suppressedAt: number): [string, Record<string, unknown>] => [
      suppressionIdFor(address),
      { address, reason: "bounce", suppressedAt, detail: "Permanent/General", emailId: null, uid: null },
    ];
    await putDocuments(db, "emailSuppressions", [
      entry("old.bounce@example.com", now - 90 * 86_400_000),
      ...Array.from({ length: 250 }, (_, index) => entry(`new${index}@example.com`, now - index)),
    ]);
    const cookie = `ce_admin_session=${createSessionToken({ sessionSecret: SESSION_SECRET, now })}`;
    const page = async (query: string) =>
      (await fetch(`${server.url}/admin/suppressions${query}`, { headers: { cookie } })).text();
    // The list shows the latest; the search by address reaches every entry.
    expect(await page("")).not.toContain("old.bounce@example.com");
    const found = await page(`?address=${encodeURIComponent(" Old.Bounce@Example.com ")}`);
    expect(found).toContain("old.bounce@example.com");
    expect(found).toContain(`value="${suppressionIdFor("old.bounce@example.com")}"`);
    expect(found).not.toContain("new0@example.com");
    const missing = await page(`?address=${encodeURIComponent("nobody@example.com")}`);
    expect(missing).toContain("is not on the suppression list");
  });
});

describe("admin: engagement by rating, in Chromium", () => {
  it("shows, per effectiveness rating and per type, the share opened, clicked and marked helpful", async () => {
    const now = Date.now();
    const sent = (id: string, fields: Record<string, unknown>): [string, Record<string, unknown>] => [
      id,
      { id, uid: "stats", status: "sent", sentAt: now, messageType: "check_in", ...fields },
    ];
    await putDocuments(db, "coachingMessages", [
      sent("e1", {
        effectivenessRating: 9,
        emailDelivered: true,
        emailOpened: true,
        emailClicked: true,
        feedbackHelpful: true,
      }),
      sent("e2", { effectivenessRating: 9, emailDelivered: true, emailOpened: true, feedbackHelpful: true }),
      sent("e3", { effectivenessRating: 9, emailDelivered: true, emailOpened: true }),
      sent("e4", { effectivenessRating: 9, emailDelivered: true }),
      sent("e5", {
        effectivenessRating: 6,
        emailDelivered: true,
        feedbackHelpful: false,
        messageType: "challenge",
      }),
      sent("e6", {
        effectivenessRating: 6,
        emailDelivered: true,
        emailOpened: true,
        messageType: "challenge",
      }),
    ]);
    // The dashboard reads the metrics rollup, which a scheduler tick runs: run it here.
    await rollUpMetrics({ store: createFirestoreMetricsStore(db), now, elapsedMs: () => 0 });
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    try {
      const token = createSessionToken({ sessionSecret: SESSION_SECRET, now });
      await context.addCookies([{ name: "ce_admin_session", value: token, url: server.url }]);
      const page = await context.newPage();
      // The old page leads to the dashboard's section.
      await page.goto(`${server.url}/admin/engagement?days=7`);
      await page.waitForURL(`${server.url}/admin#engagement`);
      const byRating = page.getByTestId("engagement-by-rating");
      const nine = byRating
        .getByTestId("engagement-row")
        .filter({ has: page.getByRole("rowheader", { name: "9" }) });
      // 4 sent: opened 3 (75%), clicked 1 (25%), marked helpful 2 (50%).
      await expect(nine.textContent()).resolves.toMatch(/^94.*75% \(3\).*25% \(1\).*50% \(2\)/);
      const six = byRating
        .getByTestId("engagement-row")
        .filter({ has: page.getByRole("rowheader", { name: "6" }) });
      await expect(six.textContent()).resolves.toMatch(/^62.*50% \(1\).*0% \(0\).*0% \(0\)/);
      const challenge = page
        .getByTestId("engagement-by-type")
        .getByTestId("engagement-row")
        .filter({ has: page.getByRole("rowheader", { name: "challenge" }) });
      await expect(challenge.textContent()).resolves.toMatch(/^challenge2/);
      await page.screenshot({ path: `${SCREENSHOT_DIR}admin-engagement.png`, fullPage: true });
    } finally {
      await context.close();
    }
  });
});

describe("every email", () => {
  it("that the mail catcher received carries the one-click unsubscribe headers", () => {
    expect(catcher.emails.length).toBeGreaterThan(0);
    for (const email of catcher.emails) {
      expect(email.headers?.["List-Unsubscribe-Post"]).toBe("List-Unsubscribe=One-Click");
      expect(email.headers?.["List-Unsubscribe"]).toContain("/unsubscribe?token=");
    }
  });
});
