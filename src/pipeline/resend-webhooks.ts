/**
 * What a verified Resend webhook changes. Resend signs with Svix and delivers at least once; the
 * route checks the signature, and this applies each delivery (`svix-id`) once: a permanent bounce
 * or a complaint puts the address on the suppression list (a complaint also turns the user's
 * email off), and every email event is recorded on the message it is about.
 */
import { z } from "zod";
import { normaliseEmailAddress } from "@/core/email-address";
import type { DeliveryFeedbackStore, WebhookEffects } from "./delivery-ports";
import type { EmailEventKind } from "./processor-store-ports";

/** The event types recorded, by Resend's name. Any other type is acknowledged and ignored. */
const EMAIL_EVENT_KINDS: Readonly<Record<string, EmailEventKind>> = {
  "email.delivered": "delivered",
  "email.delivery_delayed": "delivery_delayed",
  "email.opened": "opened",
  "email.clicked": "clicked",
  "email.bounced": "bounced",
  "email.complained": "complained",
  "email.failed": "failed",
};

/**
 * An event about an email the engine has not recorded yet is retried (Resend retries after 5 s,
 * 5 min, 30 min, ...) while the email is this young: the outbox writes the email's id just after
 * Resend accepts it, and a fast `email.delivered` can arrive first. Older, it is some other
 * sender's email on the same Resend account, acknowledged so Resend does not retry it for days.
 */
export const UNMATCHED_EMAIL_RETRY_MS = 15 * 60_000;

const MAX_DETAIL_LENGTH = 300;

export const resendWebhookSchema = z.looseObject({
  type: z.string().min(1),
  created_at: z.string().optional(),
  data: z.unknown(),
});

const emailEventDataSchema = z.looseObject({
  email_id: z.string().min(1),
  created_at: z.string().optional(),
  to: z.union([z.array(z.string()), z.string()]).optional(),
  bounce: z.looseObject({ type: z.string().optional(), subType: z.string().optional() }).optional(),
  failed: z.looseObject({ reason: z.string().optional() }).optional(),
});

export type ResendWebhookOutcome =
  | { outcome: "applied" | "duplicate" | "ignored"; detail: string }
  /** Not applied and not claimed: the caller answers non-2xx so that Resend delivers it again. */
  | { outcome: "retry"; detail: string };

function detailOf(kind: EmailEventKind, data: z.infer<typeof emailEventDataSchema>): string | null {
  if (kind === "bounced")
    return (
      [data.bounce?.type, data.bounce?.subType].filter(Boolean).join("/").slice(0, MAX_DETAIL_LENGTH) || null
    );
  if (kind === "failed") return data.failed?.reason?.slice(0, MAX_DETAIL_LENGTH) ?? null;
  return null;
}

/** Resend's bounce types are Permanent, Transient and Undetermined: only a hard bounce suppresses. */
function isPermanentBounce(data: z.infer<typeof emailEventDataSchema>): boolean {
  return data.bounce?.type?.toLowerCase() === "permanent";
}

/** Applies one verified webhook delivery; `deliveryId` is its `svix-id`. */
export async function applyResendWebhook({
  store,
  deliveryId,
  payload,
  now,
}: {
  store: DeliveryFeedbackStore;
  deliveryId: string;
  payload: z.infer<typeof resendWebhookSchema>;
  now: number;
}): Promise<ResendWebhookOutcome> {
  const kind = EMAIL_EVENT_KINDS[payload.type];
  if (!kind) return { outcome: "ignored", detail: `event type ${payload.type} is not used` };
  const parsed = emailEventDataSchema.safeParse(payload.data);
  if (!parsed.success) return { outcome: "ignored", detail: `${payload.type} without an email id` };
  const data = parsed.data;
  const recipient = (Array.isArray(data.to) ? data.to[0] : data.to) ?? null;

  const message = await store.findMessageByEmailId(data.email_id);
  const suppresses = (kind === "bounced" && isPermanentBounce(data)) || kind === "complained";
  if (!message && !suppresses) {
    const sentAt = Date.parse(data.created_at ?? payload.created_at ?? "");
    if (Number.isFinite(sentAt) && now - sentAt < UNMATCHED_EMAIL_RETRY_MS)
      return { outcome: "retry", detail: `no message records email ${data.email_id} yet` };
    return { outcome: "ignored", detail: `no message records email ${data.email_id}` };
  }

  let emailOffForUids: string[] = [];
  if (kind === "complained") {
    // The message's user; by the address when the message names none it can be read by.
    const uids = message?.uid ? [message.uid] : recipient ? await store.findUidsByEmail(recipient) : [];
    // Only users that exist: an update of a missing document would fail the whole batch.
    const recipients = await Promise.all(uids.map((uid) => store.getEmailRecipient(uid)));
    emailOffForUids = recipients.flatMap((found) => (found ? [found.uid] : []));
  }
  const effects: WebhookEffects = {
    deliveryId,
    eventType: payload.type,
    receivedAt: now,
    messageEvent: message
      ? {
          messageId: message.id,
          kind,
          firstAt: message.emailEvents[kind]?.firstAt ?? now,
          detail: detailOf(kind, data),
        }
      : null,
    suppression:
      suppresses && recipient
        ? {
            address: normaliseEmailAddress(recipient),
            reason: kind === "complained" ? "complaint" : "bounce",
            suppressedAt: now,
            detail: detailOf(kind, data),
            emailId: data.email_id,
            uid: message?.uid ?? emailOffForUids[0] ?? null,
          }
        : null,
    emailOffForUids,
  };
  const applied = await store.applyWebhook(effects);
  return applied === "duplicate"
    ? { outcome: "duplicate", detail: `delivery ${deliveryId} was applied before` }
    : { outcome: "applied", detail: `${payload.type}${effects.suppression ? ", address suppressed" : ""}` };
}
