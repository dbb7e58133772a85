import "server-only";
import { randomBytes } from "node:crypto";
import { createHttpDispatcher } from "@/adapters/dispatch/http-dispatcher";
import { getDb } from "@/adapters/firestore/client";
import { createFirestoreSchedulerStore } from "@/adapters/firestore/scheduler-store";
import { type AppConfig, requireSetting } from "@/config";
import type { SchedulerRunRecord, SchedulerTrigger } from "@/pipeline/ports";
import { runScheduler } from "@/pipeline/run-scheduler";

/** A run id that sorts by start time and does not collide when two ticks start in the same millisecond. */
export function newRunId(startedAt: number): string {
  return `${new Date(startedAt).toISOString()}_${randomBytes(4).toString("hex")}`;
}

/** Wires the production collaborators from configuration and runs one scheduler tick. */
export async function runSchedulerTick({
  config,
  trigger,
  limit,
}: {
  config: AppConfig;
  trigger: SchedulerTrigger;
  limit?: number;
}): Promise<SchedulerRunRecord> {
  const startedAt = performance.now();
  const now = Date.now();
  return runScheduler({
    store: createFirestoreSchedulerStore(getDb(config)),
    dispatcher: createHttpDispatcher({
      appUrl: config.appUrl,
      cronSecret: requireSetting(config, "CRON_SECRET"),
      timeoutMs: config.scheduler.dispatchTimeoutMs,
    }),
    settings: config.scheduler,
    now,
    trigger,
    runId: newRunId(now),
    elapsedMs: () => performance.now() - startedAt,
    limit,
  });
}
