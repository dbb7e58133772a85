import "server-only";
import { randomBytes } from "node:crypto";
import { createHttpChainContinuer, createHttpDispatcher } from "@/adapters/dispatch/http-dispatcher";
import { getDb } from "@/adapters/firestore/client";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { createFirestoreSchedulerStore } from "@/adapters/firestore/scheduler-store";
import { type AppConfig, requireSetting } from "@/config";
import { logger } from "@/logger";
import { closeStaleSlots } from "@/pipeline/close-stale-slots";
import type { MinuteShare } from "@/pipeline/dispatch-ports";
import {
  chainLastStartAt,
  cronChainId,
  runScheduler,
  schedulerSettingsFromConfig,
} from "@/pipeline/run-scheduler";
import type { SchedulerRunRecord, SchedulerTrigger } from "@/pipeline/scheduler-run-record";
import type { DueCursor } from "@/pipeline/scheduler-store-ports";

export { cronChainId };

/** A run id that sorts by start time and does not collide when two ticks start in the same millisecond. */
export function newRunId(startedAt: number): string {
  return `${new Date(startedAt).toISOString()}_${randomBytes(4).toString("hex")}`;
}

/** Matches `newRunId`'s ids: how the processor knows the `x-coaching-run-id` a dispatch sends is one. */
export const RUN_ID_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z_[0-9a-f]{8}$/;

/** Matches `cronChainId`'s ids, for validating a continuation. */
export const CRON_CHAIN_ID_PATTERN = /^cron_\d{4}-\d{2}-\d{2}T\d{2}$/;

/**
 * Wires the production collaborators from configuration and runs one scheduler tick: a single
 * run, or with `chain` one step of a cron tick's chain (continuations go to the scheduler route
 * at APP_URL, with the cron secret).
 */
export async function runSchedulerTick({
  config,
  trigger,
  limit,
  chain,
}: {
  config: AppConfig;
  trigger: SchedulerTrigger;
  limit?: number;
  chain?: { chainId: string; step: number; after: DueCursor | null; minuteShare?: MinuteShare | null };
}): Promise<SchedulerRunRecord> {
  const startedAt = performance.now();
  const now = Date.now();
  const cronSecret = requireSetting(config, "CRON_SECRET");
  const http = { appUrl: config.appUrl, cronSecret, timeoutMs: config.scheduler.dispatchTimeoutMs };
  const run = await runScheduler({
    store: createFirestoreSchedulerStore(getDb(config)),
    dispatcher: createHttpDispatcher(http),
    settings: schedulerSettingsFromConfig(config),
    now,
    trigger,
    runId: newRunId(now),
    elapsedMs: () => performance.now() - startedAt,
    limit,
    ...(chain
      ? {
          chain: {
            ...chain,
            maxSteps: config.scheduler.maxChainSteps,
            lastStartAt: chainLastStartAt({
              chainId: chain.chainId,
              lastStartMinute: config.scheduler.chainLastStartMinute,
            }),
            stepLeaseMs: config.scheduler.chainStepLeaseMs,
            continuer: createHttpChainContinuer({
              ...http,
              timeoutMs: config.scheduler.continuationTimeoutMs,
            }),
          },
        }
      : {}),
  });
  // One line per run for operators; the run's span has ended, so its trace id is given explicitly.
  logger.info("scheduler run", {
    component: "scheduler",
    runId: run.runId,
    traceId: run.traceId ?? undefined,
    trigger,
    status: run.status,
    chainId: run.chain?.chainId,
    step: run.chain?.step,
    usersDue: run.results.usersDue,
    jobsCreated: run.results.jobsCreated,
    errors: run.results.errors,
    hasMore: run.results.hasMore,
  });
  // Once an hour, at the chain's first step, after its work: never fails or holds up the tick long.
  if (trigger === "cron" && (chain?.step ?? 0) === 0) {
    // Inside the tick's own time budget: a tick that used it all leaves the sweep to the next hour.
    await sweepStaleSlots(config, now, { deadline: startedAt + config.scheduler.timeBudgetMs });
  }
  return run;
}

/** Slots whose runs died and that nobody will take over are closed (pipeline/close-stale-slots.ts). */
async function sweepStaleSlots(
  config: AppConfig,
  now: number,
  { deadline }: { deadline: number },
): Promise<void> {
  try {
    const sweep = await closeStaleSlots({
      store: createFirestoreProcessorStore(getDb(config)),
      now,
      limit: STALE_SLOT_SWEEP_LIMIT,
      deadline,
      clock: () => performance.now(),
    });
    if (sweep.closed + sweep.heldMessage + sweep.lost > 0) {
      logger.info("stale slots swept", { component: "scheduler", ...sweep });
    }
  } catch (error) {
    logger.warn("stale slot sweep failed; the next tick tries again", { component: "scheduler", error });
  }
}

/** Stale slots closed per tick at most: a handful normally; a backlog goes over a few ticks. */
const STALE_SLOT_SWEEP_LIMIT = 100;
