/**
 * A prompt experiment on the real Next.js server (PROMPT_VARIANTS_DIR pointing at a variant file
 * written for the test): a scheduler tick rolls up a scripted hour of the experiment's attempts
 * per variant, the dashboard compares the variants with their intervals and sample sizes, in
 * Chromium, and its Stop button sends the variant's users back to the control prompt.
 */

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Firestore } from "firebase-admin/firestore";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STOPPED_VARIANTS_CACHE_MS } from "@/adapters/prompt-experiment-stops";
import { fixedPromptRules } from "@/adapters/prompts";
import { dayKey, HOUR_MS, hourKey, hourStartOf } from "@/core/metrics-hours";
import { assignVariant } from "@/core/prompt-experiments";
import { createSessionToken } from "@/http/admin-session";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import type { LlmSandbox } from "../../scripts/local-stack/llm-sandbox";
import { launchChromium, SCREENSHOT_DIR } from "../support/browser";
import { eventually } from "../support/eventually";
import { EXPERIMENT_ID, seedExperimentScript } from "../support/experiment-script";
import type { NextServer } from "../support/next-server";
import { seedDueUser } from "../support/processor";
import { caller, type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "experiment-test-secret-0123456789ab";
const SESSION_SECRET = "experiment-test-session-secret-0123456789abcdef";
const SCHEDULER = "/api/coaching/generateCoachingMessage/scheduler";
const PROCESSOR = "/api/coaching/generateCoachingMessage/processor";
const VARIANT_MARKER = "You are the warmer coach of the tone test.";
const experiment = { id: EXPERIMENT_ID, variants: [{ id: "warmer", share: 0.25, version: "mg/3-warmer" }] };

let stack: RouteStack;
let db: Firestore;
let sandbox: LlmSandbox;
let server: NextServer;
let browser: Browser;
/** The scripted hour: two hours before the current one, so it is settled whatever the minute. */
const scriptedHour = hourStartOf(Date.now()) - 2 * HOUR_MS;

function variantsDirectory(): string {
  const directory = path.join(mkdtempSync(path.join(tmpdir(), "route-variants-")), "variants");
  mkdirSync(directory);
  writeFileSync(
    path.join(directory, "message-generation.warmer.md"),
    `---\nexperiment: ${EXPERIMENT_ID}\nvariant: warmer\nshare: 0.25\nversion: mg/3-warmer\n---\n${VARIANT_MARKER}\nWrite one short coaching message.\n\n${fixedPromptRules()}\n`,
  );
  return directory;
}

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "admin-experiment",
    cronSecret: SECRET,
    env: {
      ADMIN_PASSWORD: "experiment-admin-password-0123",
      ADMIN_SESSION_SECRET: SESSION_SECRET,
      PROMPT_VARIANTS_DIR: variantsDirectory(),
    },
  });
  ({ db, sandbox, server } = stack);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

const call = caller(() => server, { method: "POST", token: SECRET });

/** A uid the experiment puts in `variant` (assignment is a pure function of uid and experiment). */
function uidIn(variant: string, prefix: string): string {
  for (let index = 0; ; index += 1) {
    const uid = `${prefix}-${index}`;
    if (assignVariant({ uid, experiment, stopped: new Set() }) === variant) return uid;
  }
}

async function processedMessage(uid: string): Promise<StoredMessage> {
  await seedDueUser(db, { uid, now: Date.now() });
  expect((await call(PROCESSOR, { body: { userId: uid } })).status).toBe(202);
  return eventually(
    async () => {
      const snapshot = await db.collection("coachingMessages").where("uid", "==", uid).get();
      return snapshot.docs
        .map((document) => document.data() as StoredMessage)
        .find((message) => message.wasSent);
    },
    (found) => found !== undefined,
  ) as Promise<StoredMessage>;
}

function generationPromptsFor(uid: string): string[] {
  return sandbox.requests
    .map((request) => JSON.stringify(request.body.messages))
    .filter((prompt) => prompt.includes(`Name ${uid}`));
}

describe("a prompt experiment, on the dashboard", () => {
  beforeAll(async () => {
    await seedExperimentScript(db, { hourStart: scriptedHour });
    expect((await call(SCHEDULER, { method: "GET" })).status).toBe(200);
    const tickAt = Date.now();
    await eventually(
      () =>
        Promise.all(
          [`metricsHourly/${hourKey(scriptedHour)}`, `metricsEngagement/${dayKey(scriptedHour)}`].map(
            async (document) => (await db.doc(document).get()).get("computedAt") ?? 0,
          ),
        ),
      // Engagement of the scripted hour's day counted by this tick's rollup (after the hours).
      (computed) => computed.every((at) => at >= tickAt - 60_000),
    );
  }, 60_000);

  it("compares the variants with intervals and sample sizes, and stops one, in Chromium", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    try {
      const token = createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() });
      await context.addCookies([{ name: "ce_admin_session", value: token, url: server.url }]);
      const page = await context.newPage();
      await page.goto(`${server.url}/admin`);
      const panel = page.getByTestId("prompt-experiment");
      await expect(panel.getByRole("heading").textContent()).resolves.toContain(EXPERIMENT_ID);
      // Control: 4 of 5 scored drafts passed; ratings 7, 8, 8, 9, 4; 2 of 4 delivered emails opened.
      await expect(page.getByTestId("gate-pass-control").textContent()).resolves.toMatch(
        /^80%95% CI 37\.6%–96\.4%, n = 5$/,
      );
      await expect(page.getByTestId("mean-rating-control").textContent()).resolves.toMatch(
        /^7\.2095% CI 5\.51–8\.89, n = 5$/,
      );
      await expect(page.getByTestId("opened-control").textContent()).resolves.toMatch(/^50%.*n = 4$/);
      await expect(page.getByTestId("helpful-control").textContent()).resolves.toMatch(/^50%.*n = 2$/);
      // Warmer: 4 of 4 passed; ratings 8, 9, 9, 7; 3 of 3 opened, 2 of 3 clicked, 2 of 2 helpful.
      await expect(page.getByTestId("gate-pass-warmer").textContent()).resolves.toMatch(/^100%.*n = 4$/);
      await expect(page.getByTestId("mean-rating-warmer").textContent()).resolves.toMatch(/^8\.25.*n = 4$/);
      await expect(page.getByTestId("clicked-warmer").textContent()).resolves.toMatch(/^66\.7%.*n = 3$/);
      await panel.screenshot({ path: `${SCREENSHOT_DIR}admin-prompt-experiment.png` });

      await page.getByRole("button", { name: "Stop prompt variant warmer" }).click();
      await page.getByTestId("notice").filter({ hasText: "warmer stopped" }).waitFor();
      await expect(page.getByTestId("variant-warmer").textContent()).resolves.toContain("stopped");
      expect(await page.getByRole("button", { name: "Resume prompt variant warmer" }).count()).toBe(1);
      expect((await db.doc("systemState/promptExperiments").get()).get("stopped")).toEqual([
        `${EXPERIMENT_ID}/warmer`,
      ]);
      await page.screenshot({ path: `${SCREENSHOT_DIR}admin-prompt-experiment-stopped.png`, fullPage: true });
    } finally {
      await context.close();
    }
  });

  it("gives a stopped variant's user the control prompt, and records it", async () => {
    const uid = uidIn("warmer", "stopped-warmer");
    const message = await processedMessage(uid);
    expect(message.promptVariant).toBe(`${EXPERIMENT_ID}/control`);
    expect(generationPromptsFor(uid).join("\n")).not.toContain(VARIANT_MARKER);
  });

  it("gives a running variant's user the variant's prompt once resumed, and records it", async () => {
    const context = await browser.newContext();
    try {
      const token = createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() });
      await context.addCookies([{ name: "ce_admin_session", value: token, url: server.url }]);
      const page = await context.newPage();
      await page.goto(`${server.url}/admin`);
      await page.getByRole("button", { name: "Resume prompt variant warmer" }).click();
      await page.getByTestId("notice").filter({ hasText: "warmer resumed" }).waitFor();
    } finally {
      await context.close();
    }
    // The processor route is bundled apart from the admin pages, with its own read cache: it sees
    // the resume once the stopped set it read for the previous user is older than the cache period.
    await new Promise((resolve) => setTimeout(resolve, STOPPED_VARIANTS_CACHE_MS + 500));
    const uid = uidIn("warmer", "running-warmer");
    const message = await processedMessage(uid);
    expect(message.promptVariant).toBe(`${EXPERIMENT_ID}/warmer`);
    expect(message.promptVersion).toMatch(/^mg\/3-warmer\+/);
    const [generation] = generationPromptsFor(uid);
    expect(generation).toContain(VARIANT_MARKER);
  });
});
