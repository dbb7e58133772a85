/**
 * One-click unsubscribe (RFC 8058): a signed link turns one user's email off, without a session.
 * Checking a link never writes (mail scanners follow links); only the POST does.
 */
import { unsubscribeTokenUid, verifyUnsubscribeToken } from "@/core/unsubscribe";
import type { DeliveryFeedbackStore } from "./delivery-ports";

export type UnsubscribeLinkCheck =
  | { valid: true; uid: string; emailOn: boolean; maskedEmail: string }
  | { valid: false };

/** `ada@example.com` → `a**@example.com`: enough for the owner to recognise, little for anyone else. */
function maskEmail(address: string): string {
  const [local = "", domain = ""] = address.split("@");
  return `${local.slice(0, 1)}${"*".repeat(Math.max(1, Math.min(local.length - 1, 6)))}@${domain}`;
}

/** Whether the token is a valid link for an existing user at their current address. Never writes. */
export async function checkUnsubscribeLink({
  store,
  secret,
  token,
}: {
  store: Pick<DeliveryFeedbackStore, "getEmailRecipient">;
  secret: string;
  token: string;
}): Promise<UnsubscribeLinkCheck> {
  const uid = unsubscribeTokenUid(token);
  if (uid === null) return { valid: false };
  const recipient = await store.getEmailRecipient(uid);
  if (!recipient || !verifyUnsubscribeToken({ secret, token, uid, email: recipient.email }))
    return { valid: false };
  return { valid: true, uid, emailOn: recipient.emailOn, maskedEmail: maskEmail(recipient.email) };
}

/**
 * Turns the link's user's email off. Idempotent: a user whose email is already off is not
 * written again. `{ valid: false }` (nothing written) for a malformed, forged or stale link.
 */
export async function unsubscribeWithLink({
  store,
  secret,
  token,
  now,
}: {
  store: Pick<DeliveryFeedbackStore, "getEmailRecipient" | "turnEmailOff">;
  secret: string;
  token: string;
  now: number;
}): Promise<{ valid: true; alreadyOff: boolean } | { valid: false }> {
  const link = await checkUnsubscribeLink({ store, secret, token });
  if (!link.valid) return link;
  if (link.emailOn) await store.turnEmailOff({ uid: link.uid, now, source: "one_click" });
  return { valid: true, alreadyOff: !link.emailOn };
}
