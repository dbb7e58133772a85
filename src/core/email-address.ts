/**
 * Email addresses as the suppression list and the unsubscribe tokens compare them. Pure.
 */
import { createHash } from "node:crypto";

/**
 * Trimmed and lower-cased. RFC 5321 lets a local part be case-sensitive, but no mailbox provider
 * in use treats it so, and Resend's own suppression list compares addresses the same way: a
 * bounce for `Ada@Example.com` must stop mail to `ada@example.com`.
 */
export function normaliseEmailAddress(address: string): string {
  return address.trim().toLowerCase();
}

/**
 * The id of an address's document on the suppression list: a hash, since an address may hold
 * characters a Firestore id cannot (`/`) and need not appear in ids (logs, URLs).
 */
export function suppressionIdFor(address: string): string {
  return createHash("sha256").update(normaliseEmailAddress(address)).digest("hex");
}
