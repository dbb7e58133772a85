/**
 * The metrics rollup never holds up the scheduler route or the outbox drain it runs beside: with
 * Firestore unreachable it gives up at what is left of the route's time (or its own bound) and
 * resolves, the failure logged, not thrown.
 */
import { beforeAll, expect, it } from "vitest";
import { type AppConfig, loadConfig } from "@/config";
import type { SchedulerRunRecord } from "@/pipeline/scheduler-run-record";
import { rollUpMetricsAfterTick, rollUpMetricsSafely } from "@/services/metrics";

let config: AppConfig;

beforeAll(() => {
  // Port 1 on this machine: nothing listens, so every Firestore call fails or hangs in retries.
  // firebase-admin reads the emulator's address from the environment itself.
  process.env.FIRESTORE_EMULATOR_HOST = "127.0.0.1:1";
  config = loadConfig({
    NODE_ENV: "test",
    FIRESTORE_EMULATOR_HOST: "127.0.0.1:1",
    FIREBASE_PROJECT_ID: "metrics-unreachable",
  });
});

/** The last step of a chain: the one that rolls up. */
const lastStep = {
  runId: "run-1",
  chain: {
    chainId: "cron_2026-11-30T09",
    step: 0,
    attempt: 1,
    duplicateOf: null,
    startedAfter: null,
    handledUpTo: null,
    continuation: { status: "not_needed", nextStep: null },
  },
} as unknown as SchedulerRunRecord;

it("after a tick, gives up at the route's end, without throwing, when Firestore does not answer", async () => {
  // The tick took 54 s of the route's 60: about 3 s are left before the route must end.
  const requestStartedAt = performance.now() - 54_000;
  const startedAt = performance.now();
  await expect(rollUpMetricsAfterTick(config, { run: lastStep, requestStartedAt })).resolves.toBeUndefined();
  expect(performance.now() - startedAt).toBeLessThan(4_500);
}, 30_000);

it("beside a drain, gives up at its own bound, without throwing, when Firestore does not answer", async () => {
  const startedAt = performance.now();
  await expect(rollUpMetricsSafely(config, { timeoutMs: 500 })).resolves.toBeUndefined();
  expect(performance.now() - startedAt).toBeLessThan(2_000);
}, 30_000);
