import { z } from "zod";
import { getConfig } from "@/config";
import { requireAdmin } from "@/http/auth";
import { methodNotAllowed, parseJsonBody, respond } from "@/http/respond";
import { resetBreaker } from "@/services/admin";

/**
 * Closes the LLM circuit breaker (failure count 0), so the next run calls the LLM. The body is
 * empty or `{}`: there is nothing to choose.
 */
export async function POST(request: Request): Promise<Response> {
  return respond("admin/breaker/reset", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    await parseJsonBody(request, z.strictObject({}), { optional: true });
    return Response.json({ success: true, llmBreaker: await resetBreaker(config, Date.now()) });
  });
}

export const GET = methodNotAllowed(["POST"]);
export const PUT = methodNotAllowed(["POST"]);
export const PATCH = methodNotAllowed(["POST"]);
export const DELETE = methodNotAllowed(["POST"]);
