import { z } from "zod";
import { getConfig } from "@/config";
import { requireAdmin } from "@/http/auth";
import { methodNotAllowed, parseQuery, respond } from "@/http/respond";
import { METRICS_RANGES } from "@/pipeline/metrics-overview";
import { metricsOverview } from "@/services/metrics";

export const dynamic = "force-dynamic";

const metricsQuerySchema = z.strictObject({ range: z.enum(METRICS_RANGES).default("24h") });

/**
 * The operator's figures from the hourly rollups: 24 hours or 14 days, with the engagement of the
 * last 14 days' messages. Reads rollup documents only (a fixed number, whatever the users).
 */
export async function GET(request: Request): Promise<Response> {
  return respond("admin/metrics", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    const { range } = parseQuery(request, metricsQuerySchema);
    return Response.json({ success: true, ...(await metricsOverview(config, { range, now: Date.now() })) });
  });
}

export const POST = methodNotAllowed(["GET"]);
export const PUT = methodNotAllowed(["GET"]);
export const PATCH = methodNotAllowed(["GET"]);
export const DELETE = methodNotAllowed(["GET"]);
