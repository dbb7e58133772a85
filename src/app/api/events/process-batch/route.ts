import { after } from "next/server";
import { z } from "zod";
import { getConfig } from "@/config";
import { requireCronSecret } from "@/http/auth";
import { methodNotAllowed, parseJsonBody, respond } from "@/http/respond";
import { runEventBatchesSafely } from "@/services/events";

/** The drain runs after the response, within EVENT_TIME_BUDGET_MS, below this. */
export const maxDuration = 60;

const processBatchSchema = z.strictObject({});

function accept(): Response {
  const config = getConfig();
  after(() => runEventBatchesSafely(config));
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
    await parseJsonBody(request, processBatchSchema, { optional: true });
    return accept();
  });
}

export const PUT = methodNotAllowed(["GET", "POST"]);
export const DELETE = methodNotAllowed(["GET", "POST"]);
