/**
 * The admin API for the LLM circuit breaker, through the real Next.js server: its status, and a
 * reset that closes it so the next run calls the LLM.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../support/browser";
import type { EmulatorHandle } from "../support/firestore";
import type { NextServer } from "../support/next-server";
import { seedDueUser } from "../support/processor";
import { quietWrites } from "../support/quiet-writes";
import { caller, type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "breaker-test-secret-0123456789ab";
const PASSWORD = "breaker-admin-password-0123";
const TEST_ROUTE = "/api/coaching/generateCoachingMessage/test";
const MINUTE = 60_000;

let stack: RouteStack;
let handle: EmulatorHandle;
let db: Firestore;
let projectId: string;
let server: NextServer;

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "admin-breaker",
    cronSecret: SECRET,
    env: {
      ENABLE_TEST_ROUTES: "true",
      ADMIN_PASSWORD: PASSWORD,
      ADMIN_SESSION_SECRET: "breaker-test-session-secret-0123456789abcdef",
    },
  });
  ({ handle, db, projectId, server } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

const call = caller(() => server, { method: "GET", token: SECRET });

describe("admin breaker API: refusals write nothing", () => {
  it.each([
    ["GET", "/api/admin/breaker", 401, undefined, null],
    ["POST", "/api/admin/breaker/reset", 401, undefined, null],
    ["POST", "/api/admin/breaker/reset", 401, undefined, "wrong-wrong-wrong-wrong-wrong-00"],
    ["GET", "/api/admin/breaker?verbose=1", 400, undefined, SECRET],
    ["POST", "/api/admin/breaker/reset", 400, "{nope", SECRET],
    ["POST", "/api/admin/breaker/reset", 400, { state: "closed" }, SECRET],
    ["GET", "/api/admin/breaker/reset", 405, undefined, SECRET],
    ["POST", "/api/admin/breaker", 405, undefined, SECRET],
  ] as const)("%s %s → %i", async (method, path, status, body, token) => {
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    const response = await call(path, { method, body, token });
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual({ success: false, error: expect.any(String) });
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
  });
});

describe("admin breaker API", () => {
  it("shows an open breaker, and a reset closes it so the next run calls the LLM", async () => {
    const now = Date.now();
    const openedAt = now - MINUTE;
    const openUntil = now + 30 * MINUTE;
    await db.doc("systemState/llmBreaker").set({
      state: "open",
      consecutiveFailures: 20,
      openedAt,
      openUntil,
      lastFailureAt: openedAt,
      lastError: "503 upstream unavailable",
    });
    await seedDueUser(db, { uid: "held", now });

    const shown = await (await call("/api/admin/breaker")).json();
    expect(shown).toEqual({
      success: true,
      llmBreaker: {
        state: "open",
        gate: "open",
        consecutiveFailures: 20,
        openedAt,
        openUntil,
        lastFailureAt: openedAt,
        lastError: "503 upstream unavailable",
        probeInFlight: false,
        nextProbeAt: openUntil,
      },
    });
    expect((await (await call("/api/admin/status")).json()).llmBreaker).toMatchObject({
      state: "open",
      openedAt,
      nextProbeAt: openUntil,
    });

    const requestsBefore = stack.sandbox.requests.length;
    const held = await (
      await call(TEST_ROUTE, { method: "POST", body: { action: "test-user", userId: "held" } })
    ).json();
    expect(held.messageGenerated).toBe(false);
    expect(stack.sandbox.requests.length).toBe(requestsBefore);

    const reset = await call("/api/admin/breaker/reset", { method: "POST" });
    expect(reset.status).toBe(200);
    expect(await reset.json()).toMatchObject({
      success: true,
      llmBreaker: { state: "closed", gate: "closed", consecutiveFailures: 0, nextProbeAt: null },
    });
    expect((await db.doc("systemState/llmBreaker").get()).data()).toMatchObject({
      state: "closed",
      consecutiveFailures: 0,
    });

    const after = await (
      await call(TEST_ROUTE, {
        method: "POST",
        body: { action: "test-user", userId: "held", bypassChecks: true },
      })
    ).json();
    expect(after.messageGenerated).toBe(true);
    expect(stack.sandbox.requests.length).toBeGreaterThan(requestsBefore);
  });

  it("accepts an empty JSON object as the reset body", async () => {
    const response = await call("/api/admin/breaker/reset", { method: "POST", body: {} });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ success: true, llmBreaker: { state: "closed" } });
  });
});

describe("admin dashboard: the breaker", () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it("shows when the open breaker opened and why, and its reset button closes it", async () => {
    const now = Date.now();
    const openedAt = now - 2 * MINUTE;
    await db.doc("systemState/llmBreaker").set({
      state: "open",
      consecutiveFailures: 20,
      openedAt,
      openUntil: now + 3 * MINUTE,
      lastFailureAt: openedAt,
      lastError: "503 upstream unavailable",
    });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/admin/login`);
    await page.getByLabel("Admin password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${server.url}/admin`);

    expect(await page.getByTestId("breaker-state").textContent()).toBe("open");
    expect(await page.getByTestId("breaker-failures").textContent()).toBe("20");
    expect(await page.getByTestId("breaker-opened").textContent()).not.toBe("—");
    expect(await page.getByTestId("breaker-next-probe").textContent()).not.toBe("—");
    expect(await page.getByTestId("breaker-last-error").textContent()).toContain("503 upstream unavailable");
    expect(await page.getByTestId("breaker-warning").textContent()).toMatch(/open since .*503 upstream/);

    await page.getByRole("button", { name: "Reset breaker" }).click();
    await page.getByTestId("notice").filter({ hasText: "breaker reset" }).waitFor();
    expect(await page.getByTestId("breaker-state").textContent()).toBe("closed");
    expect(await page.getByTestId("breaker-next-probe").textContent()).toBe("—");
    expect(await page.getByTestId("breaker-warning").count()).toBe(0);
    expect(await page.getByRole("button", { name: "Reset breaker" }).count()).toBe(0);
    expect((await db.doc("systemState/llmBreaker").get()).data()).toMatchObject({
      state: "closed",
      consecutiveFailures: 0,
    });
    await context.close();
  });
});
