/** The alert-notification handler: posts an alert that fired, resolved or reopened to ALERT_WEBHOOK_URL. */
import { z } from "zod";
import { ALERT_TEXT_MAX_LENGTH } from "@/core/alert-text";
import type { AlertWebhook } from "../alert-ports";
import type { HandlerResult } from "../event-ports";

export const alertNotificationPayload = z.object({
  alertId: z.string().min(1),
  transition: z.enum(["fired", "resolved", "reopened", "resolved_after_reopen"]),
  text: z.string().min(1).max(ALERT_TEXT_MAX_LENGTH),
});

/**
 * Posts the text built when the alert fired or resolved (core/alert-text.ts `alertText`: figures
 * only). A failed post comes back as data: retriable ones (a timeout, 5xx, 429) are retried by
 * the outbox with its backoff and dead-lettered like any event. With no webhook configured (it
 * was unset after the event was written) there is nothing to post: done.
 */
export async function postAlert(
  webhook: AlertWebhook | null,
  payload: z.infer<typeof alertNotificationPayload>,
): Promise<HandlerResult> {
  if (!webhook) return { ok: true, detail: "ALERT_WEBHOOK_URL is not set: not posted" };
  const posted = await webhook.post(payload.text);
  return posted.ok ? { ok: true, detail: `posted ${payload.transition}` } : posted;
}
