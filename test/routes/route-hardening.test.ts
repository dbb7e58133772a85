/**
 * Edges every route shares: a method a route does not serve, text an attacker puts in the
 * sign-in page's URL, an event id too long for the outbox's lease ids.
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmulatorHandle } from "../support/firestore";
import type { NextServer } from "../support/next-server";
import { quietWrites } from "../support/quiet-writes";
import { type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "route-hardening-cron-secret-0123456789";
const PASSWORD = "route-hardening-password";
const SESSION_SECRET = "route-hardening-session-secret-0123456789abcdef";

let stack: RouteStack;
let handle: EmulatorHandle;
let projectId: string;
let server: NextServer;

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "route-hardening",
    cronSecret: SECRET,
    env: { ADMIN_PASSWORD: PASSWORD, ADMIN_SESSION_SECRET: SESSION_SECRET, ENABLE_TEST_ROUTES: "true" },
  });
  ({ handle, projectId, server } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

/** Every API route file, by its path under src/app (dynamic segments as written). */
const API_DIR = path.resolve(import.meta.dirname, "../../src/app/api");
const routeFiles = readdirSync(API_DIR, { recursive: true, encoding: "utf8" })
  .filter((file) => path.basename(file) === "route.ts")
  .map((file) => `/api/${path.dirname(file).split(path.sep).join("/")}`)
  .sort();

/** Each route's served methods; a new route must be added here (checked below). */
const SERVED: Record<string, readonly string[]> = {
  "/api/admin/breaker": ["GET"],
  "/api/admin/breaker/reset": ["POST"],
  "/api/admin/events/[eventId]/replay": ["POST"],
  "/api/admin/events/requeue-dead-letters": ["GET", "POST"],
  "/api/admin/metrics": ["GET"],
  "/api/admin/runs": ["GET"],
  "/api/admin/status": ["GET"],
  "/api/admin/users": ["GET"],
  "/api/admin/users/[userId]": ["GET", "DELETE"],
  "/api/admin/users/[userId]/resume": ["POST"],
  "/api/admin/users/[userId]/suspend": ["POST"],
  "/api/coaching/generateCoachingMessage/processor": ["POST"],
  "/api/coaching/generateCoachingMessage/scheduler": ["GET", "POST"],
  "/api/coaching/generateCoachingMessage/test": ["POST"],
  "/api/cron/cleanup": ["GET", "POST"],
  "/api/events/health": ["GET"],
  "/api/events/process-batch": ["GET", "POST"],
  "/api/events/process-event": ["POST"],
  "/api/health": ["GET"],
  "/api/users/[userId]/api-key": ["GET", "PUT", "DELETE"],
  "/api/users/[userId]/messages/[messageId]/feedback": ["POST"],
  "/api/users/[userId]/push-subscriptions": ["PUT", "DELETE"],
  "/api/users/[userId]/usage": ["GET"],
  "/api/webhooks/resend": ["POST"],
};

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

const unsupported = Object.entries(SERVED).flatMap(([route, served]) =>
  METHODS.filter((method) => !served.includes(method)).map((method) => [route, method, served] as const),
);

describe("methods a route does not serve", () => {
  it("the table lists every API route", () => {
    expect(Object.keys(SERVED).sort()).toEqual(routeFiles);
  });

  it.each(unsupported)("%s answers %s with 405, the error shape and Allow", async (route, method, served) => {
    const url = `${server.url}${route.replace("[userId]", "ada").replace("[eventId]", "evt-1").replace("[messageId]", "ada_1")}`;
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    const response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json" },
      ...(method === "GET" ? {} : { body: "{}" }),
    });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe(served.join(", "));
    expect(await response.json()).toEqual({
      success: false,
      error: expect.stringContaining("method not allowed"),
    });
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
  });
});

describe("the sign-in page shows only its own messages", () => {
  async function loginPage(query: string): Promise<string> {
    const response = await fetch(`${server.url}/admin/login?${query}`, { redirect: "manual" });
    expect(response.status).toBe(200);
    return response.text();
  }

  it("shows nothing of text put in the error parameter", async () => {
    const planted = "Your session expired. Call 555-0100 to restore access";
    const html = await loginPage(`error=${encodeURIComponent(planted)}`);
    // What the page shows (the router's own state, in a script, repeats the URL as data).
    const shown = html.slice(html.indexOf("<main>"), html.indexOf("</main>"));
    expect(shown).toContain("Sign in");
    expect(shown).not.toContain("555-0100");
    expect(shown).not.toContain('data-testid="login-error"');
  });

  it.each([
    ["error=wrong", "Wrong password."],
    ["error=throttled&retry=120", "Too many attempts. Try again in 120 s."],
    ["error=throttled&retry=Call%20555", "Too many attempts. Try again later."],
    ["error=unavailable", "Sign-in is unavailable right now; try again in a minute."],
  ])("maps %s to its fixed message", async (query, message) => {
    expect(await loginPage(query)).toContain(message);
  });
});

describe("event ids", () => {
  it("refuses an event id too long for its lease ids with 400 and writes nothing", async () => {
    // 400 characters, 1,200 bytes: a valid document id, but over MAX_EVENT_ID_BYTES.
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    const response = await fetch(`${server.url}/api/events/process-event`, {
      method: "POST",
      headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json" },
      body: JSON.stringify({ event_id: "€".repeat(400) }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ success: false, error: expect.stringContaining("bytes") });
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
  });
});
