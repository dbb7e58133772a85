/**
 * The outbox cron's drain rolls up the metrics too (beside the alerts' evaluation): under
 * sustained load the scheduler's steps use their whole time and leave the rollup none, so the
 * drain, every 5 minutes with its own budget, keeps the newest hour from lagging.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadConfig } from "@/config";
import { HOUR_MS, HOUR_SETTLED_AFTER_MS, hourKey, hourStartOf } from "@/core/metrics-hours";
import { runEventBatchesSafely } from "@/services/events";
import { type EmulatorHandle, startTestEmulator } from "../support/firestore";

let handle: EmulatorHandle;

beforeAll(async () => {
  handle = await startTestEmulator();
}, 60_000);

afterAll(async () => {
  await handle?.stop();
});

it("rolls up the last settled hour from a cron drain (continuation 0), not from its continuations", async () => {
  const projectId = `drain-rollup-${randomUUID().slice(0, 8)}`;
  const config = loadConfig({
    NODE_ENV: "test",
    FIRESTORE_EMULATOR_HOST: handle.emulator.host,
    FIREBASE_PROJECT_ID: projectId,
  });
  const db = handle.dbFor(projectId);
  const now = Date.now();
  // The newest hour a run counts: the one that ended over HOUR_SETTLED_AFTER_MS ago.
  const settled = hourStartOf(now - HOUR_SETTLED_AFTER_MS) - HOUR_MS;

  await runEventBatchesSafely(config, { continuation: 1 });
  expect((await db.doc(`metricsHourly/${hourKey(settled)}`).get()).exists).toBe(false);

  await runEventBatchesSafely(config);
  expect((await db.doc(`metricsHourly/${hourKey(settled)}`).get()).exists).toBe(true);
}, 60_000);
