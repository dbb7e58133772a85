import { z } from "zod";
import { getConfig } from "@/config";
import { requireCronSecret } from "@/http/auth";
import { methodNotAllowed, parseJsonBody, respond } from "@/http/respond";
import type { SchedulerRunRecord, SchedulerTrigger } from "@/pipeline/ports";
import { runSchedulerTick } from "@/services/scheduler";

/** Vercel stops the function here; the tick's own time budget (SCHEDULER_TIME_BUDGET_MS) stays below it. */
export const maxDuration = 60;

const ROUTE = "scheduler";

/** A manual POST may cap its run; nothing else is accepted. */
const schedulerRequestSchema = z.strictObject({
  limit: z.int().positive().max(100_000).optional(),
});

function summaryResponse(run: SchedulerRunRecord): Response {
  return Response.json({ success: true, runId: run.runId, results: run.results });
}

async function tick(
  request: Request,
  trigger: SchedulerTrigger,
  readLimit: () => Promise<number | undefined>,
) {
  const config = getConfig();
  requireCronSecret(request, config);
  const limit = await readLimit();
  return summaryResponse(await runSchedulerTick({ config, trigger, limit }));
}

/** Vercel cron calls GET, hourly. */
export async function GET(request: Request): Promise<Response> {
  return respond(ROUTE, () => tick(request, "cron", async () => undefined));
}

/** Operators and tests call POST, optionally with `{ "limit": n }`. */
export async function POST(request: Request): Promise<Response> {
  return respond(ROUTE, () =>
    tick(
      request,
      "manual",
      async () => (await parseJsonBody(request, schedulerRequestSchema, { optional: true })).limit,
    ),
  );
}

export const PUT = methodNotAllowed(["GET", "POST"]);
export const PATCH = methodNotAllowed(["GET", "POST"]);
export const DELETE = methodNotAllowed(["GET", "POST"]);
