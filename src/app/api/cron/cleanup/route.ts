import { getConfig } from "@/config";
import { requireCronSecret } from "@/http/auth";
import { methodNotAllowed, respond } from "@/http/respond";
import { runCleanup } from "@/services/admin";

/** Deletes in bounded batches (CLEANUP_MAX_DELETES per run); what is left goes next run. */
export const maxDuration = 60;

async function cleanup(request: Request): Promise<Response> {
  const config = getConfig();
  requireCronSecret(request, config);
  return Response.json({ success: true, ...(await runCleanup(config, Date.now())) });
}

/** Vercel cron, daily. */
export async function GET(request: Request): Promise<Response> {
  return respond("cron/cleanup", () => cleanup(request));
}

export async function POST(request: Request): Promise<Response> {
  return respond("cron/cleanup", () => cleanup(request));
}

export const DELETE = methodNotAllowed(["GET", "POST"]);
export const PUT = methodNotAllowed(["GET", "POST"]);
export const PATCH = methodNotAllowed(["GET", "POST"]);
