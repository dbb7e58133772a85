import { after } from "next/server";
import { z } from "zod";
import { getConfig } from "@/config";
import { requireAdmin } from "@/http/auth";
import { methodNotAllowed, parseJsonBody, respond } from "@/http/respond";
import {
  MAX_BULK_REQUEUE,
  requeueRetriableDeadLettersNow,
  retriableDeadLetterCount,
  runEventBatchesSafely,
} from "@/services/events";

const requeueSchema = z.strictObject({
  /** The count the operator saw (GET) and confirmed: at most this many are requeued. */
  confirmCount: z.number().int().min(1).max(MAX_BULK_REQUEUE),
});

/** How many dead letters a bulk requeue would put back (retriable ones only). */
export async function GET(request: Request): Promise<Response> {
  return respond("admin/events/requeue-dead-letters", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    return Response.json({ success: true, retriableDeadLetters: await retriableDeadLetterCount(config) });
  });
}

/**
 * Requeues up to `confirmCount` retriable dead letters (an outage longer than the retry window),
 * each with a fresh retry window, and starts a drain. Permanent failures stay. A message whose
 * email is recorded sent sends nothing again; one whose last send ended with an unknown outcome
 * (a timeout) more than 23 h ago is not resent (Resend's idempotency key has expired): it is
 * dead-lettered, not retriable, for an operator to check. A letter whose event is gone is removed.
 */
export async function POST(request: Request): Promise<Response> {
  return respond("admin/events/requeue-dead-letters", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    const { confirmCount } = await parseJsonBody(request, requeueSchema);
    const { requeued, remaining } = await requeueRetriableDeadLettersNow(config, {
      confirmCount,
      now: Date.now(),
    });
    if (requeued > 0) after(() => runEventBatchesSafely(config));
    return Response.json({ success: true, requeued, remaining }, { status: 202 });
  });
}

export const PUT = methodNotAllowed(["GET", "POST"]);
export const PATCH = methodNotAllowed(["GET", "POST"]);
export const DELETE = methodNotAllowed(["GET", "POST"]);
