import { getConfig } from "@/config";
import { requireCronSecret } from "@/http/auth";
import { methodNotAllowed, respond } from "@/http/respond";
import { eventHealth } from "@/services/events";

export const dynamic = "force-dynamic";

/** Outbox health (docs/api.md, "Event outbox"): status, uptime, stats, configuration and the handler registry. */
export async function GET(request: Request): Promise<Response> {
  return respond("events/health", async () => {
    const config = getConfig();
    requireCronSecret(request, config);
    return Response.json({ success: true, ...(await eventHealth(config, Date.now())) });
  });
}

export const POST = methodNotAllowed(["GET"]);
export const PUT = methodNotAllowed(["GET"]);
export const PATCH = methodNotAllowed(["GET"]);
export const DELETE = methodNotAllowed(["GET"]);
