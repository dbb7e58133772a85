import { after } from "next/server";
import { z } from "zod";
import { getConfig } from "@/config";
import { LOWEST_RANK } from "@/core/due-rank";
import { AppError } from "@/core/errors";
import { MAX_INSTANT_MS } from "@/core/user";
import { requireCronSecret } from "@/http/auth";
import { methodNotAllowed, parseJsonBody, respond } from "@/http/respond";
import { logger } from "@/logger";
import type { SchedulerRunRecord } from "@/pipeline/scheduler-run-record";
import { evaluateAlertsAfterTick } from "@/services/alerts";
import { rollUpMetricsAfterTick } from "@/services/metrics";
import { CRON_CHAIN_ID_PATTERN, cronChainId, runSchedulerTick } from "@/services/scheduler";

/**
 * Vercel stops the function here; the tick's own time budget (SCHEDULER_TIME_BUDGET_MS) stays
 * below it. Next.js needs a literal: keep it equal to SCHEDULER_MAX_DURATION_SECONDS (a test checks).
 */
export const maxDuration = 60;

const ROUTE = "scheduler";

/**
 * Where the previous step of a chain stopped: a due time and a rank as the engine writes them.
 * The due time is any the engine reads as one (`isInstant`), so every cursor a step sends fits.
 */
const dueCursorSchema = z.strictObject({
  due: z.number().min(-MAX_INSTANT_MS).max(MAX_INSTANT_MS),
  rank: z.number().min(LOWEST_RANK).lt(1),
});

/** The next step of a cron tick's chain, as the step before it sends it. */
const continuationSchema = z.strictObject({
  chainId: z.string().regex(CRON_CHAIN_ID_PATTERN, "must be a cron chain id (cron_YYYY-MM-DDTHH)"),
  step: z.int().min(1).max(1_000),
  after: dueCursorSchema.nullable(),
  // A paced chain: the processor calls started so far in the current UTC minute.
  minuteShare: z
    .strictObject({
      minute: z
        .number()
        .int()
        .min(0)
        .max(MAX_INSTANT_MS)
        .refine((minute) => minute % 60_000 === 0, "must be the start of a minute"),
      dispatched: z.int().min(0).max(10_000_000),
    })
    .nullable()
    .optional(),
});

/** A manual POST may cap its run; a chain step carries its continuation; nothing else is accepted. */
const schedulerRequestSchema = z.union([
  z.strictObject({ limit: z.int().positive().max(100_000).optional() }),
  z.strictObject({ continuation: continuationSchema }),
]);

function summaryResponse(run: SchedulerRunRecord): Response {
  return Response.json({ success: true, runId: run.runId, results: run.results, chain: run.chain });
}

/**
 * Vercel cron calls GET, hourly: step 0 of the hour's chain. A second delivery of the same hour
 * finds the step claimed and does nothing (its summary says whose it is).
 */
export async function GET(request: Request): Promise<Response> {
  const requestStartedAt = performance.now();
  return respond(ROUTE, async () => {
    const config = getConfig();
    requireCronSecret(request, config);
    const chain = { chainId: cronChainId(Date.now()), step: 0, after: null };
    const run = await runSchedulerTick({ config, trigger: "cron", chain });
    // After the response, each bounded by the route's time left and never throwing: the alerts
    // first (services/alerts.ts), then the hourly metrics (services/metrics.ts).
    after(() => evaluateAlertsAfterTick(config, { run, requestStartedAt }));
    after(() => rollUpMetricsAfterTick(config, { run, requestStartedAt }));
    return summaryResponse(run);
  });
}

/**
 * Operators and tests call POST, optionally with `{ "limit": n }`: one run, no chain. A chain
 * step calls POST with `{ "continuation": { chainId, step, after } }`: the step is accepted
 * with 202 and runs after the response (claimed first, so a duplicate does nothing).
 */
export async function POST(request: Request): Promise<Response> {
  const requestStartedAt = performance.now();
  return respond(ROUTE, async () => {
    const config = getConfig();
    requireCronSecret(request, config);
    const body = await parseJsonBody(request, schedulerRequestSchema, { optional: true });
    if (!("continuation" in body)) {
      const run = await runSchedulerTick({ config, trigger: "manual", limit: body.limit });
      after(() => evaluateAlertsAfterTick(config, { run, requestStartedAt }));
      return summaryResponse(run);
    }
    const { continuation } = body;
    // Only this hour's chain: no step of a chain is started after minute 55 of its hour
    // (SCHEDULER_CHAIN_LAST_START_MINUTE), so a step of an earlier hour's chain is a delivery
    // delayed or replayed by minutes, and run now it would dispatch beside the next hour's
    // chain, each at the whole share of the LLM ceiling and of the writes on `users`.
    if (continuation.chainId !== cronChainId(Date.now())) {
      throw new AppError(
        "bad_request:api",
        "invalid request body: continuation.chainId: not the chain of this hour's tick",
      );
    }
    if (continuation.step >= config.scheduler.maxChainSteps) {
      throw new AppError(
        "bad_request:api",
        `invalid request body: continuation.step: the chain has at most ${config.scheduler.maxChainSteps} steps (SCHEDULER_MAX_CHAIN_STEPS)`,
      );
    }
    after(async () => {
      try {
        const run = await runSchedulerTick({ config, trigger: "continuation", chain: continuation });
        // Side by side, each bounded by the route's time left and never throwing.
        await Promise.all([
          evaluateAlertsAfterTick(config, { run, requestStartedAt }),
          rollUpMetricsAfterTick(config, { run, requestStartedAt }),
        ]);
      } catch (error) {
        // The step's summary holds the failure; its users stay due for the next tick.
        logger.error("scheduler chain step failed", {
          component: "scheduler",
          chainId: continuation.chainId,
          step: continuation.step,
          error,
        });
      }
    });
    return Response.json(
      { success: true, accepted: true, chainId: continuation.chainId, step: continuation.step },
      { status: 202 },
    );
  });
}

export const PUT = methodNotAllowed(["GET", "POST"]);
export const PATCH = methodNotAllowed(["GET", "POST"]);
export const DELETE = methodNotAllowed(["GET", "POST"]);
