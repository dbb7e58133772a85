import { createHash, createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSessionToken } from "@/http/admin-session";
import type { EmulatorHandle } from "../support/firestore";
import type { NextServer } from "../support/next-server";
import { seedDueUser } from "../support/processor";
import { quietWrites } from "../support/quiet-writes";
import { type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "admin-security-cron-secret-0123456789";
const PASSWORD = "admin-security-password";
const SESSION_SECRET = "admin-security-session-secret-0123456789abcdef";

let stack: RouteStack;
let handle: EmulatorHandle;
let projectId: string;
let server: NextServer;

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "admin-security",
    cronSecret: SECRET,
    env: { ADMIN_PASSWORD: PASSWORD, ADMIN_SESSION_SECRET: SESSION_SECRET, ENABLE_TEST_ROUTES: "true" },
  });
  ({ handle, projectId, server } = stack);
  await seedDueUser(stack.db, { uid: "ada", now: Date.now() });
});

afterAll(async () => {
  await stack?.stop();
});

const sessionCookie = () =>
  `ce_admin_session=${createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() })}`;

async function request(
  path: string,
  {
    method = "GET",
    body,
    headers = {},
    redirect = "manual",
  }: { method?: string; body?: unknown; headers?: Record<string, string>; redirect?: RequestRedirect } = {},
) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    redirect,
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, text: await response.text() };
}

describe("admin session key", () => {
  it("refuses a cookie signed with a key derived from the password", async () => {
    const now = Date.now();
    const payload = Buffer.from(
      JSON.stringify({ iat: now, exp: now + 3_600_000, nonce: "forged-by-a-password-guess" }),
    ).toString("base64url");
    const passwordKey = createHash("sha256").update(`coaching-engine:admin-session:${PASSWORD}`).digest();
    const forged = `${payload}.${createHmac("sha256", passwordKey).update(payload).digest("base64url")}`;
    const response = await request("/api/admin/status", {
      headers: { cookie: `ce_admin_session=${forged}` },
    });
    expect(response.status).toBe(401);
  });

  it("accepts a cookie signed with ADMIN_SESSION_SECRET", async () => {
    const response = await request("/api/admin/status", { headers: { cookie: sessionCookie() } });
    expect(response.status).toBe(200);
  });
});

describe("ids Firestore cannot use are a 400, never a 500", () => {
  const bearer = { authorization: `Bearer ${SECRET}` };
  const long = "x".repeat(1_600);
  /** Test names show a long id by its length. */
  const shown = (path: string) => path.replace(long, "<1,600 × x>");
  const cases: [string, string, unknown][] = [
    ["GET", "/api/admin/users/__reserved__", undefined],
    ["DELETE", "/api/admin/users/__reserved__", undefined],
    ["POST", "/api/admin/users/__reserved__/suspend", { reason: "x", hours: 1 }],
    ["POST", "/api/admin/users/__reserved__/resume", undefined],
    ["GET", `/api/admin/users/${long}`, undefined],
    ["GET", "/api/admin/users?after=__reserved__", undefined],
    ["GET", "/api/admin/users/%E0%A4%A", undefined],
    ["GET", "/api/users/%E0%A4%A/usage", undefined],
    ["POST", "/api/admin/events/__reserved__/replay", undefined],
    ["POST", `/api/admin/events/${long}/replay`, undefined],
    ["POST", "/api/events/process-event", { event_id: "__reserved__" }],
    ["POST", "/api/events/process-event", { event_id: "." }],
    ["POST", "/api/events/process-event", { event_id: ".." }],
    ["POST", "/api/events/process-event", { event_id: "a/b" }],
    ["POST", "/api/coaching/generateCoachingMessage/processor", { userId: "__reserved__" }],
    ["POST", "/api/coaching/generateCoachingMessage/processor", { userId: ".." }],
    ["POST", "/api/coaching/generateCoachingMessage/test", { action: "user-status", userId: "__reserved__" }],
    ["POST", "/api/coaching/generateCoachingMessage/test", { action: "test-user", userId: "." }],
  ];
  it.each(
    cases.map(
      ([method, path, body]) => [method, shown(path), JSON.stringify(body) ?? "", path, body] as const,
    ),
  )("%s %s %s", async (method, _shown, _body, path, body) => {
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    const response = await request(path, { method, body, headers: bearer });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text)).toEqual({ success: false, error: expect.any(String) });
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
  });
});

describe("admin pages: odd ids and searches get a page, never a crash", () => {
  it("the sign-in page takes repeated parameters", async () => {
    const response = await request("/admin/login?error=wrong&error=two&next=/admin&next=/admin/users");
    expect(response.status).toBe(200);
    expect(response.text).toContain("Wrong password.");
  });

  it.each([
    ["a reserved user id", "/admin/users/__reserved__", /cannot be a user id/],
    ["a malformed escape in the id", "/admin/users/%E0%A4%A", /malformed escape/],
    ["an id over 1,500 bytes", `/admin/users/${"é".repeat(800)}`, /cannot be a user id/],
    ["a search for a path", "/admin/users?q=a%2Fb", /No users match/],
    ["a search for a reserved id", "/admin/users?q=__reserved__", /No users match/],
    ["a search for a dot", "/admin/users?q=.", /No users match/],
    ["a search for two dots", "/admin/users?q=..", /No users match/],
    ["a repeated parameter", "/admin/users?q=ada&q=bea&status=x&status=y", /users-table/],
  ])("%s", async (_case, path, expected) => {
    const response = await request(path, { headers: { cookie: sessionCookie() }, redirect: "follow" });
    expect(response.status).toBe(200);
    expect(response.text).toMatch(expected);
  });
});
