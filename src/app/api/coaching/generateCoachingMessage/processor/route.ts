import { after } from "next/server";
import { z } from "zod";
import { getConfig } from "@/config";
import { AppError } from "@/core/errors";
import { requireCronSecret } from "@/http/auth";
import { documentIdSchema, methodNotAllowed, parseJsonBody, respond } from "@/http/respond";
import { acceptUserRun } from "@/pipeline/process-user";
import { inCurrentTrace } from "@/pipeline/tracing";
import { deliverNow } from "@/services/events";
import { processorDeps, runSlotSafely } from "@/services/processor";
import { RUN_ID_PATTERN } from "@/services/scheduler";

/**
 * Generation and scoring run after the response, inside this limit; src/config refuses a slot
 * lease (PROCESSOR_LEASE_MS) that does not outlast it. Next.js needs a literal here: keep it equal
 * to PROCESSOR_MAX_DURATION_SECONDS (a test checks).
 */
export const maxDuration = 300;

const processorRequestSchema = z.strictObject({ userId: documentIdSchema });

/**
 * Claims the user's due slot and answers 202 at once; the rest runs in `after()`, so the
 * scheduler's fan-out never waits for generation. A user who is not eligible, or whose slot is
 * already taken or done, gets 200 with `messageGenerated: false` and the reason.
 */
export async function POST(request: Request): Promise<Response> {
  return respond("processor", async () => {
    const config = getConfig();
    requireCronSecret(request, config);
    const { userId } = await parseJsonBody(request, processorRequestSchema);
    const deps = processorDeps(config);
    const accepted = await acceptUserRun({ deps, uid: userId, now: Date.now() });
    switch (accepted.kind) {
      case "not_found":
        throw new AppError("not_found:user", `user ${userId} not found`);
      case "claimed": {
        const runId = dispatchingRunId(request);
        // Bound to the request's trace (joined from the dispatch's `traceparent`), so the run's
        // spans and log lines after the response stay in the tick's trace.
        after(
          inCurrentTrace(() =>
            runSlotSafely({
              deps,
              claim: accepted.claim,
              now: Date.now(),
              deliver: (eventId) => deliverNow(config, eventId),
              runId,
            }),
          ),
        );
        return Response.json({ success: true, userId, accepted: true }, { status: 202 });
      }
      case "skipped":
        return Response.json({ success: true, userId, messageGenerated: false, reason: accepted.reason });
      case "busy":
        return Response.json({ success: true, userId, messageGenerated: false, reason: "in_progress" });
      case "already_completed":
        return Response.json({ success: true, userId, messageGenerated: false, reason: "already_processed" });
    }
  });
}

/** The scheduler run that dispatched this call, for the run's log lines; null unless the header holds a run id. */
function dispatchingRunId(request: Request): string | null {
  const runId = request.headers.get("x-coaching-run-id");
  return runId && RUN_ID_PATTERN.test(runId) ? runId : null;
}

export const GET = methodNotAllowed(["POST"]);
export const PUT = methodNotAllowed(["POST"]);
export const PATCH = methodNotAllowed(["POST"]);
export const DELETE = methodNotAllowed(["POST"]);
