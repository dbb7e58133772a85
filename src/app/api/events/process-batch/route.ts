import { after } from "next/server";
import { z } from "zod";
import { getConfig } from "@/config";
import { AppError } from "@/core/errors";
import { requireCronSecret } from "@/http/auth";
import { methodNotAllowed, parseJsonBody, respond } from "@/http/respond";
import { runEventBatchesSafely } from "@/services/events";

/**
 * The drain runs after the response, within EVENT_TIME_BUDGET_MS, below this (config checks the
 * budget and the Resend timeout against EVENTS_MAX_DURATION_SECONDS, which must equal it).
 */
export const maxDuration = 60;

/** `continuation`: set by a drain that calls itself again (at most EVENT_MAX_CONTINUATIONS). */
const processBatchSchema = z.strictObject({ continuation: z.number().int().min(1).max(10).optional() });

function accept(continuation = 0): Response {
  const config = getConfig();
  if (continuation > config.events.maxContinuations) {
    throw new AppError(
      "bad_request:api",
      `continuation ${continuation} is past EVENT_MAX_CONTINUATIONS (${config.events.maxContinuations})`,
    );
  }
  after(() => runEventBatchesSafely(config, { continuation }));
  return Response.json({ success: true, accepted: true }, { status: 202 });
}

/** Vercel cron (every 5 minutes) calls GET. */
export async function GET(request: Request): Promise<Response> {
  return respond("events/process-batch", async () => {
    requireCronSecret(request, getConfig());
    return accept();
  });
}

/** On demand; the body, if any, must be `{}`. */
export async function POST(request: Request): Promise<Response> {
  return respond("events/process-batch", async () => {
    requireCronSecret(request, getConfig());
    const body = await parseJsonBody(request, processBatchSchema, { optional: true });
    return accept(body.continuation);
  });
}

export const PUT = methodNotAllowed(["GET", "POST"]);
export const DELETE = methodNotAllowed(["GET", "POST"]);
export const PATCH = methodNotAllowed(["GET", "POST"]);
