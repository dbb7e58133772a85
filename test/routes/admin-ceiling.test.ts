/**
 * The dashboard's panel for the global LLM ceiling, through the real Next.js server: the calls
 * reserved through the Firestore ceiling show per minute against the limit, and a deployment
 * without `LLM_CALLS_PER_MINUTE` says there is no ceiling.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFirestoreLlmCeiling } from "@/adapters/firestore/llm-ceiling";
import { minuteStartOf } from "@/core/llm-ceiling";
import { createSessionToken } from "@/http/admin-session";
import { launchChromium, SCREENSHOT_DIR } from "../support/browser";
import { type NextServer, startNextServer } from "../support/next-server";
import { type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "admin-ceiling-cron-secret-0123456789";
const SESSION_SECRET = "admin-ceiling-session-secret-0123456789abcdef";
const ADMIN = { ADMIN_PASSWORD: "admin-ceiling-password-0123", ADMIN_SESSION_SECRET: SESSION_SECRET };
const LIMIT = 50;

let stack: RouteStack;
let db: Firestore;
let server: NextServer;

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "admin-ceiling",
    cronSecret: SECRET,
    env: { ...ADMIN, LLM_CALLS_PER_MINUTE: String(LIMIT) },
  });
  ({ db, server } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

/** The dashboard's HTML for a signed-in admin. */
async function dashboardHtml(target: NextServer): Promise<string> {
  const cookie = `ce_admin_session=${createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() })}`;
  const response = await fetch(`${target.url}/admin`, { headers: { cookie }, redirect: "manual" });
  expect(response.status).toBe(200);
  return response.text();
}

const minuteLabel = (minuteStart: number) => new Date(minuteStart).toISOString().slice(11, 16);

/** The text of the dashboard's table row for one minute: its label, calls and limit. */
function minuteRow(html: string, minuteStart: number): string | null {
  const label = minuteLabel(minuteStart);
  const row = html.match(new RegExp(`<tr data-testid="ceiling-minute-${label}">(.*?)</tr>`));
  return (
    row?.[1]
      ?.replace(/<!-- -->/g, "")
      .replace(/<[^>]+>/g, " ")
      .trim()
      .replace(/\s+/g, " ") ?? null
  );
}

describe("admin dashboard: the LLM ceiling", () => {
  it("shows the calls reserved in each minute of the last hour against the limit", async () => {
    const now = Date.now();
    const thisMinute = minuteStartOf(now);
    const earlier = thisMinute - 5 * 60_000;
    const ceiling = createFirestoreLlmCeiling(db, { callsPerMinute: LIMIT });
    // Five minutes ago the minute filled up (one reservation more was refused); now 7 calls so far.
    const full = await Promise.all(
      Array.from({ length: LIMIT + 1 }, (_, index) =>
        ceiling.reserve({ calls: 1, now: earlier + 1_000, seed: `run-${index}` }),
      ),
    );
    expect(full.filter((decision) => decision.admitted)).toHaveLength(LIMIT);
    expect(await ceiling.reserve({ calls: 3, now, seed: "a" })).toEqual({ admitted: true });
    expect(await ceiling.reserve({ calls: 4, now, seed: "b" })).toEqual({ admitted: true });

    const html = await dashboardHtml(server);
    expect(html).toContain("LLM calls per minute against the ceiling");
    expect(html).toMatch(new RegExp(`data-testid="ceiling-limit">${LIMIT}<`));
    expect(minuteRow(html, earlier)).toBe(`${minuteLabel(earlier)} ${LIMIT} ${LIMIT}`);
    expect(minuteRow(html, thisMinute)).toBe(`${minuteLabel(thisMinute)} 7 ${LIMIT}`);
    // A minute with no reservation shows zero.
    expect(minuteRow(html, thisMinute - 60_000)).toBe(`${minuteLabel(thisMinute - 60_000)} 0 ${LIMIT}`);
    expect(html).toMatch(/data-testid="ceiling-full-minutes">1</);
    expect(html).toContain(`${LIMIT} of ${LIMIT} calls`);
    expect(html).not.toContain('data-testid="ceiling-unset"');
    // The last hour: 60 minutes, the current one included.
    expect(html.match(/<tr data-testid="ceiling-minute-/g)).toHaveLength(60);
  });

  it("draws a bar per minute and the limit line in the browser", async () => {
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
      await context.addCookies([
        {
          name: "ce_admin_session",
          value: createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() }),
          url: server.url,
        },
      ]);
      const page = await context.newPage();
      await page.goto(`${server.url}/admin`);
      const panel = page.getByRole("region", { name: /LLM calls per minute against the ceiling/ });
      const chart = panel.getByRole("img", { name: "LLM calls per minute against the ceiling" });
      await chart.waitFor();
      expect(await chart.locator("rect").count()).toBe(60);
      expect(await panel.getByTestId("ceiling-limit").textContent()).toBe(String(LIMIT));
      await panel.screenshot({ path: `${SCREENSHOT_DIR}admin-ceiling.png` });
      await context.close();
    } finally {
      await browser.close();
    }
  });

  it("says there is no ceiling when LLM_CALLS_PER_MINUTE is unset", async () => {
    const { handle, sandbox, catcher, projectId } = stack;
    const unset = await startNextServer((url) => ({
      FIRESTORE_EMULATOR_HOST: handle.emulator.host,
      FIREBASE_PROJECT_ID: projectId,
      CRON_SECRET: SECRET,
      APP_URL: url,
      OPENROUTER_API_KEY: "sk-or-test-0000000000000000",
      OPENROUTER_BASE_URL: sandbox.baseURL,
      RESEND_API_KEY: "re_test",
      RESEND_BASE_URL: catcher.url,
      ...ADMIN,
    }));
    try {
      const html = await dashboardHtml(unset);
      expect(html).toContain('data-testid="ceiling-unset"');
      expect(html).toContain("No ceiling set");
      expect(html).not.toContain('data-testid="ceiling-minutes"');
    } finally {
      await unset.stop();
    }
  });
});
