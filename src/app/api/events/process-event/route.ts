import { after } from "next/server";
import { z } from "zod";
import { getConfig } from "@/config";
import { AppError } from "@/core/errors";
import { requireCronSecret } from "@/http/auth";
import { eventIdSchema, methodNotAllowed, parseJsonBody, respond } from "@/http/respond";
import { eventExists, eventProcessorDeps, runEventSafely } from "@/services/events";

const processEventSchema = z.strictObject({ event_id: eventIdSchema });

/** Runs one event now, even one still backing off; 202, the work continues after the response. */
export async function POST(request: Request): Promise<Response> {
  return respond("events/process-event", async () => {
    const config = getConfig();
    requireCronSecret(request, config);
    const { event_id: eventId } = await parseJsonBody(request, processEventSchema);
    const deps = eventProcessorDeps(config);
    if (!(await eventExists(deps, eventId)))
      throw new AppError("not_found:api", `event ${eventId} not found`);
    after(() => runEventSafely(deps, eventId, { force: true }));
    return Response.json({ success: true, event_id: eventId, accepted: true }, { status: 202 });
  });
}

export const GET = methodNotAllowed(["POST"]);
export const PUT = methodNotAllowed(["POST"]);
export const PATCH = methodNotAllowed(["POST"]);
export const DELETE = methodNotAllowed(["POST"]);
