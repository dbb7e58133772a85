import { after } from "next/server";
import { getConfig } from "@/config";
import { AppError } from "@/core/errors";
import { requireAdmin } from "@/http/auth";
import { eventIdSchema, methodNotAllowed, parsePathId, respond } from "@/http/respond";
import { eventProcessorDeps, replayEvent, runEventSafely } from "@/services/events";

/**
 * Re-queues an event (a dead letter or any other) as new and runs it. Handlers are idempotent:
 * replaying a delivered message sends nothing, because its delivery record says it was sent.
 */
export async function POST(
  request: Request,
  context: { params: Promise<{ eventId: string }> },
): Promise<Response> {
  return respond("admin/events/replay", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    const eventId = parsePathId((await context.params).eventId, "event id", eventIdSchema);
    const deps = eventProcessorDeps(config);
    if (!(await replayEvent(deps, eventId)))
      throw new AppError("not_found:api", `event ${eventId} not found`);
    after(() => runEventSafely(deps, eventId));
    return Response.json({ success: true, event_id: eventId, requeued: true }, { status: 202 });
  });
}

export const GET = methodNotAllowed(["POST"]);
export const PUT = methodNotAllowed(["POST"]);
export const PATCH = methodNotAllowed(["POST"]);
export const DELETE = methodNotAllowed(["POST"]);
