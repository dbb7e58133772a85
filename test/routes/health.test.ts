/**
 * `GET /api/health` (liveness for uptime monitors, no auth) and the detailed outbox health behind
 * the secret on a deployment without a mail key.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { putDocuments } from "../support/firestore";
import { caller, type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "health-test-cron-secret-0123456789";

/** A scheduler run summary as the scheduler stores it (only the fields liveness reads matter). */
function runSummary(runId: string, startedAt: number, { breakerOpen = false, status = "completed" } = {}) {
  return [
    runId,
    {
      runId,
      trigger: "cron",
      status,
      startedAt,
      finishedAt: startedAt + 1_000,
      durationMs: 1_000,
      results: { usersDue: 3, usersBootstrapped: 0, jobsCreated: 3, errors: 0, breakerOpen },
      userResults: { "ada-private-uid": { result: "dispatched" } },
      userResultsTruncated: false,
      failureReason: null,
      chain: null,
    },
  ] as [string, Record<string, unknown>];
}

describe("a deployment whose scheduler ran in the last hour", () => {
  let stack: RouteStack;
  beforeAll(async () => {
    stack = await startRouteStack({ prefix: "health-ok", cronSecret: SECRET });
    const now = Date.now();
    // An older failed run first: only the newest counts.
    await putDocuments(stack.db, "schedulerRuns", [
      runSummary("2026-01-01T00:00:00.000Z_old", now - 3 * 3_600_000, { status: "failed" }),
      runSummary("2026-01-01T01:00:00.000Z_new", now - 20 * 60_000),
    ]);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("answers { status: ok } without auth, with no other key, no figure and no config", async () => {
    const readsBefore = stack.handle.emulator.stats(stack.projectId).billedReads;
    const response = await fetch(`${stack.server.url}/api/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toContain("no-store");
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ status: "ok" });
    expect(Object.keys(JSON.parse(text))).toEqual(["status"]);
    expect(text).not.toMatch(/ada-private-uid|usersDue|registry|config|uptime|\d/);
    // Cheap: one document, however many runs are stored.
    expect(stack.handle.emulator.stats(stack.projectId).billedReads - readsBefore).toBe(1);
  });

  it("answers again from the instance's last read, without reading Firestore", async () => {
    const readsBefore = stack.handle.emulator.stats(stack.projectId).billedReads;
    for (let call = 0; call < 5; call += 1) {
      const response = await fetch(`${stack.server.url}/api/health`);
      expect(await response.json()).toEqual({ status: "ok" });
    }
    expect(stack.handle.emulator.stats(stack.projectId).billedReads - readsBefore).toBe(0);
  });

  it("ignores a bearer token it does not need (a wrong one is not a 401)", async () => {
    const response = await fetch(`${stack.server.url}/api/health`, {
      headers: { authorization: "Bearer not-the-secret" },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it.each(["POST", "PUT", "PATCH", "DELETE"])("answers %s with 405 and Allow: GET", async (method) => {
    const response = await fetch(`${stack.server.url}/api/health`, { method });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET");
    expect(await response.json()).toEqual({ success: false, error: expect.any(String) });
  });
});

describe("a deployment without RESEND_API_KEY (nor an LLM key) whose scheduler stopped", () => {
  let stack: RouteStack;
  beforeAll(async () => {
    stack = await startRouteStack({
      prefix: "health-minimal",
      cronSecret: SECRET,
      // Unset (empty is unset): no mail key, no mail base URL, no LLM key.
      env: { RESEND_API_KEY: "", RESEND_BASE_URL: "", OPENROUTER_API_KEY: "" },
    });
    await putDocuments(stack.db, "schedulerRuns", [
      runSummary("2026-01-01T00:00:00.000Z_stale", Date.now() - 3 * 3_600_000),
    ]);
  });
  afterAll(async () => {
    await stack?.stop();
  });
  const call = caller(() => stack.server, { method: "GET", token: SECRET });

  it("liveness says degraded: no scheduler run for over 2 h", async () => {
    const response = await fetch(`${stack.server.url}/api/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "degraded" });
  });

  it("the event health behind the secret answers 200 without a mail key, saying email is off", async () => {
    const response = await call("/api/events/health");
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({
      success: true,
      status: "healthy",
      stats: { deadLetterCount: 0, pendingCount: 0 },
      config: { email: "not_configured", push: "not_configured" },
    });
    expect(body.registry.length).toBeGreaterThan(0);
  });

  it("the event health still refuses a call without the secret", async () => {
    expect((await call("/api/events/health", { token: null })).status).toBe(401);
  });
});
