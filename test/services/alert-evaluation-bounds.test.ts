/**
 * The alert evaluation never fails or holds up the tick or the drain it follows: with Firestore
 * unreachable it gives up within its budget and resolves (the failure is logged, not thrown).
 */
import { expect, it } from "vitest";
import { loadConfig } from "@/config";
import { evaluateAlertsSafely } from "@/services/alerts";

it("gives up within its budget, without throwing, when Firestore does not answer", async () => {
  // Port 1 on this machine: nothing listens, so every Firestore call fails or hangs in retries.
  // firebase-admin reads the emulator's address from the environment itself.
  process.env.FIRESTORE_EMULATOR_HOST = "127.0.0.1:1";
  const config = loadConfig({
    NODE_ENV: "test",
    FIRESTORE_EMULATOR_HOST: "127.0.0.1:1",
    FIREBASE_PROJECT_ID: "alerts-unreachable",
  });
  const startedAt = performance.now();
  await expect(evaluateAlertsSafely(config, { source: "outbox", budgetMs: 500 })).resolves.toBeUndefined();
  expect(performance.now() - startedAt).toBeLessThan(2_000);
});
