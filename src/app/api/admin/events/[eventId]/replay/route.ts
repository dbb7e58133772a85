import { after } from "next/server";
import { getConfig } from "@/config";
import { AppError } from "@/core/errors";
import { requireAdmin } from "@/http/auth";
import { methodNotAllowed, respond } from "@/http/respond";
import { eventProcessorDeps, replayEvent, runEventSafely } from "@/services/events";

const EVENT_ID = /^[^/]{1,512}$/;

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
    const { eventId } = await context.params;
    if (!EVENT_ID.test(eventId)) throw new AppError("bad_request:api", "invalid event id");
    const deps = eventProcessorDeps(config);
    if (!(await replayEvent(deps, eventId)))
      throw new AppError("not_found:api", `event ${eventId} not found`);
    after(() => runEventSafely(deps, eventId));
    return Response.json({ success: true, event_id: eventId, requeued: true }, { status: 202 });
  });
}

export const GET = methodNotAllowed(["POST"]);
