/**
 * The journaling app writes users, journal entries and events; nothing it writes, however
 * malformed, may take an admin page down. Each page is asked for over HTTP with a session, as
 * the browser would, and must answer 200 and show the bad value as "—".
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newEvent } from "@/core/events";
import { createSessionToken } from "@/http/admin-session";
import { putDocuments } from "../support/firestore";
import type { NextServer } from "../support/next-server";
import { type RouteStack, startRouteStack } from "../support/stack";
import { userDocument } from "../support/users";

const SECRET = "admin-robustness-cron-secret-0123456789";
const PASSWORD = "admin-robustness-password";
const SESSION_SECRET = "admin-robustness-session-secret-0123456789abcdef";
const BEYOND_ANY_DATE = 1e300;

let stack: RouteStack;
let db: Firestore;
let server: NextServer;
const now = Date.now();

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "admin-robustness",
    cronSecret: SECRET,
    env: { ADMIN_PASSWORD: PASSWORD, ADMIN_SESSION_SECRET: SESSION_SECRET },
  });
  ({ db, server } = stack);
  await putDocuments(db, "users", [
    ["mars", { ...userDocument({ email: "mars@example.com" }), timezone: "Mars/Olympus" }],
    ["blank-zone", { ...userDocument({ email: "blank-zone@example.com" }), timezone: "" }],
    [
      "far-due",
      { ...userDocument({ email: "far-due@example.com" }), nextCoachingMessageDue: BEYOND_ANY_DATE },
    ],
    [
      "far-suspended",
      { ...userDocument({ email: "far-suspended@example.com" }), suspendUntil: BEYOND_ANY_DATE },
    ],
    ["odd-journal", userDocument({ email: "odd-journal@example.com", nextCoachingMessageDue: now })],
    ["odd-state", userDocument({ email: "odd-state@example.com", nextCoachingMessageDue: now })],
  ]);
  await putDocuments(db, "userProcessingState", [
    [
      "far-suspended",
      { uid: "far-suspended", status: "suspended", suspendUntil: BEYOND_ANY_DATE, suspendReason: "x" },
    ],
    [
      "odd-state",
      {
        uid: "odd-state",
        status: "suspended",
        phase: { x: 1 },
        suspendUntil: now + 3_600_000,
        suspendReason: { x: 1 },
        stats: { messagesSent: { x: 1 } },
        actionHistory: [{ timestamp: now, action: { x: 1 }, details: { x: 1 } }, "claimed"],
        recentErrors: "boom",
      },
    ],
  ]);
  await putDocuments(db, "users/odd-journal/journalEntries", [
    ["object-title", { title: { x: 1 }, content: "An entry with an object for a title.", createdAt: now }],
    ["far-entry", { title: "Far", content: "Written beyond any date.", createdAt: BEYOND_ANY_DATE }],
  ]);
  const event = newEvent({
    id: "seed",
    eventType: "user.coaching.enabled",
    aggregateId: "odd-journal",
    aggregateType: "user",
    payload: {},
    createdBy: "journaling-app",
    now,
  });
  await putDocuments(db, "events", [
    ["object-type", { ...event, id: "object-type", event_type: { x: 1 }, status: "pending", attempts: 0 }],
    [
      "far-created",
      { ...event, id: "far-created", status: "pending", attempts: 0, created_at: BEYOND_ANY_DATE },
    ],
    ["odd-attempts", { ...event, id: "odd-attempts", status: "pending", attempts: 2, last_error: { x: 1 } }],
  ]);
  await putDocuments(db, "eventDeadLetters", [
    [
      "odd-letter",
      {
        event_id: "odd-letter",
        event_type: { x: 1 },
        payload: {},
        error_message: { x: 1 },
        retry_count: "many",
        original_created_at: BEYOND_ANY_DATE,
        created_at: BEYOND_ANY_DATE,
      },
    ],
  ]);
});

afterAll(async () => {
  await stack?.stop();
});

const sessionCookie = () =>
  `ce_admin_session=${createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() })}`;

async function page(path: string): Promise<{ status: number; html: string }> {
  const response = await fetch(`${server.url}${path}`, {
    redirect: "manual",
    headers: { cookie: sessionCookie() },
  });
  return { status: response.status, html: await response.text() };
}

/** The table row (`<tr>…</tr>`) that mentions `text`. */
function rowOf(html: string, text: string): string {
  const row = html.split("<tr").find((piece) => piece.includes(text));
  expect(row, `a row with ${text}`).toBeDefined();
  return (row ?? "").split("</tr>")[0] ?? "";
}

describe("admin pages survive what the app may write", () => {
  it("the users table shows an unknown or empty time zone and a due time beyond any date as —", async () => {
    const { status, html } = await page("/admin/users");
    expect(status).toBe(200);
    for (const email of ["mars@example.com", "blank-zone@example.com", "far-due@example.com"]) {
      expect(rowOf(html, email)).toContain("—");
    }
    expect(rowOf(html, "mars@example.com")).not.toContain("Mars/Olympus");
  });

  it("a user page shows a journal title that is not text, and an entry dated beyond any date, without failing", async () => {
    const { status, html } = await page("/admin/users/odd-journal");
    expect(status).toBe(200);
    expect(html).toContain("An entry with an object for a title.");
    expect(html).toContain("Written beyond any date.");
    expect(html).not.toContain("[object Object]");
  });

  it("a user page shows a processing state with fields of other types, without failing", async () => {
    const { status, html } = await page("/admin/users/odd-state");
    expect(status).toBe(200);
    expect(html).toMatch(/Suspended until/);
    expect(html).not.toContain("[object Object]");
  });

  it("a user suspended beyond any date is shown, with the end as —", async () => {
    const { status, html } = await page("/admin/users/far-suspended");
    expect(status).toBe(200);
    expect(html).toMatch(/Suspended until (<!-- -->)?—/);
  });

  it("the events page shows events with an object for a type, an error that is not text, and dates beyond any date", async () => {
    const { status, html } = await page("/admin/events");
    expect(status).toBe(200);
    expect(html).toContain("object-type");
    expect(rowOf(html, "far-created")).toContain("—");
    expect(rowOf(html, "odd-letter")).toContain("—");
    expect(html).not.toContain("[object Object]");
  });
});

describe("suspension end", () => {
  it("refuses an end beyond ten years with 400 and writes nothing", async () => {
    await putDocuments(db, "users", [["victim", userDocument({ nextCoachingMessageDue: now })]]);
    const response = await fetch(`${server.url}/api/admin/users/victim/suspend`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${SECRET}` },
      body: JSON.stringify({ reason: "x", until: Number.MAX_SAFE_INTEGER }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ success: false, error: expect.stringContaining("until") });
    const user = await db.collection("users").doc("victim").get();
    expect(user.get("nextCoachingMessageDue")).toBe(now);
    expect(user.get("suspendUntil")).toBeUndefined();
    expect((await db.collection("userProcessingState").doc("victim").get()).exists).toBe(false);
  });
});
