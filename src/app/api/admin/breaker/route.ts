import { z } from "zod";
import { getConfig } from "@/config";
import { requireAdmin } from "@/http/auth";
import { methodNotAllowed, parseQuery, respond } from "@/http/respond";
import { llmBreakerStatus } from "@/services/admin";

export const dynamic = "force-dynamic";

/** The LLM circuit breaker: whether it is open, since when, why, and when the next probe may go out. */
export async function GET(request: Request): Promise<Response> {
  return respond("admin/breaker", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    parseQuery(request, z.strictObject({}));
    return Response.json({ success: true, llmBreaker: await llmBreakerStatus(config, Date.now()) });
  });
}

export const POST = methodNotAllowed(["GET"]);
export const PUT = methodNotAllowed(["GET"]);
export const PATCH = methodNotAllowed(["GET"]);
export const DELETE = methodNotAllowed(["GET"]);
