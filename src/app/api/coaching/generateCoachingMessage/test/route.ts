import { z } from "zod";
import { getConfig } from "@/config";
import { AppError } from "@/core/errors";
import { requireCronSecret } from "@/http/auth";
import { documentIdSchema, methodNotAllowed, parseJsonBody, respond } from "@/http/respond";
import { deliverNow } from "@/services/events";
import { processorDeps } from "@/services/processor";
import { runSchedulerTick } from "@/services/scheduler";
import { listEligibleUsers, runTestUser, userStatus } from "@/services/test-tools";

/** test-user runs generation in the request, so it gets the processor's limit. */
export const maxDuration = 300;

const testRequestSchema = z.discriminatedUnion("action", [
  z.strictObject({ action: z.literal("list-eligible") }),
  z.strictObject({ action: z.literal("user-status"), userId: documentIdSchema }),
  z.strictObject({
    action: z.literal("test-user"),
    userId: documentIdSchema,
    bypassChecks: z.boolean().optional(),
  }),
  z.strictObject({ action: z.literal("test-scheduler") }),
]);

/**
 * Operator tools (docs/api.md, "Test tools"). Closed in production unless ENABLE_TEST_ROUTES=true, and never
 * without the bearer secret. A closed route answers 404, as if it did not exist.
 */
export async function POST(request: Request): Promise<Response> {
  return respond("test", async () => {
    const config = getConfig();
    if (!config.testRoutesEnabled) throw new AppError("not_found:api", "not found");
    requireCronSecret(request, config);
    const body = await parseJsonBody(request, testRequestSchema);
    const now = Date.now();
    switch (body.action) {
      case "list-eligible":
        return Response.json({ success: true, ...(await listEligibleUsers({ config, now })) });
      case "user-status":
        return Response.json({ success: true, ...(await userStatus({ config, uid: body.userId, now })) });
      case "test-user": {
        const result = await runTestUser({
          deps: processorDeps(config),
          uid: body.userId,
          now,
          bypassChecks: body.bypassChecks ?? false,
          deliver: (eventId) => deliverNow(config, eventId),
        });
        return Response.json({ success: true, userId: body.userId, ...result });
      }
      case "test-scheduler": {
        const run = await runSchedulerTick({ config, trigger: "test" });
        return Response.json({ success: true, runId: run.runId, results: run.results });
      }
    }
  });
}

export const GET = methodNotAllowed(["POST"]);
export const PUT = methodNotAllowed(["POST"]);
export const PATCH = methodNotAllowed(["POST"]);
export const DELETE = methodNotAllowed(["POST"]);
