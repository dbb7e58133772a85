import { z } from "zod";
import { getConfig } from "@/config";
import { requireAdmin } from "@/http/auth";
import { methodNotAllowed, parseQuery, respond } from "@/http/respond";
import { listRuns } from "@/services/admin";

const runsQuerySchema = z.strictObject({
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

/** Scheduler run summaries, newest first; `before` = the previous page's `nextCursor`. */
export async function GET(request: Request): Promise<Response> {
  return respond("admin/runs", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    return Response.json({
      success: true,
      ...(await listRuns(config, parseQuery(request, runsQuerySchema))),
    });
  });
}

export const POST = methodNotAllowed(["GET"]);
export const PUT = methodNotAllowed(["GET"]);
export const PATCH = methodNotAllowed(["GET"]);
export const DELETE = methodNotAllowed(["GET"]);
