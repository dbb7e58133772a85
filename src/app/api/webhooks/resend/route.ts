import { getConfig } from "@/config";
import { readBoundedText } from "@/http/bounded-body";
import { methodNotAllowed, respond } from "@/http/respond";
import { receiveResendWebhook } from "@/services/delivery";

/**
 * Resend's webhook (Svix-signed): bounces and complaints feed the suppression list, delivery
 * events are recorded on the message. 200 for an applied, repeated or ignored delivery; 503 (not
 * applied, not claimed) for an event about an email not recorded yet, so that Resend retries it.
 */
/** Resend's events are a few kilobytes; this leaves room for long subjects and many recipients. */
const MAX_WEBHOOK_BODY_BYTES = 512 * 1_024;

export async function POST(request: Request): Promise<Response> {
  return respond("webhooks/resend", async () => {
    // The raw body: the signature covers the exact bytes. Bounded, since anyone can post here.
    const body = await readBoundedText(request, MAX_WEBHOOK_BODY_BYTES);
    const result = await receiveResendWebhook(getConfig(), {
      body,
      headers: request.headers,
      now: Date.now(),
    });
    if (result.outcome === "retry")
      return Response.json(
        { success: false, error: result.detail },
        { status: 503, headers: { "retry-after": "60" } },
      );
    return Response.json({ success: true, outcome: result.outcome });
  });
}

export const GET = methodNotAllowed(["POST"]);
export const PUT = methodNotAllowed(["POST"]);
export const PATCH = methodNotAllowed(["POST"]);
export const DELETE = methodNotAllowed(["POST"]);
