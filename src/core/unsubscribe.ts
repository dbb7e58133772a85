/**
 * One-click unsubscribe (RFC 8058) links: a token that names one user and the address it was
 * sent to, signed with its own secret (`UNSUBSCRIBE_SECRET`), and the `List-Unsubscribe` headers
 * (RFC 2369) that carry it. Pure: the secret and the base URL are passed in.
 *
 * The token is `v1.<uid, base64url>.<HMAC-SHA256, base64url>` over the purpose, the uid and the
 * normalised address. It never expires (an old email's link keeps working), yet it never acts on
 * another account: it verifies only against the uid it names, and only while that user's address
 * is still the one the email went to, so a link in a mailbox the account has since left stops
 * working instead of turning off the new owner's email.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { isDocumentId } from "./document-id";
import { normaliseEmailAddress } from "./email-address";

/** Bound into every MAC, so no other signature made with the same secret can pass as a token. */
const TOKEN_PURPOSE = "coaching-engine:unsubscribe";
const TOKEN_VERSION = "v1";
/** A Firebase uid is at most 128 characters; a token naming a longer one is refused unread. */
const MAX_UID_LENGTH = 128;

function mac({ secret, uid, email }: { secret: string; uid: string; email: string }): Buffer {
  // Length-prefixed parts: no (uid, email) pair can be re-split into another with the same MAC.
  const parts = [TOKEN_PURPOSE, uid, normaliseEmailAddress(email)];
  return createHmac("sha256", secret)
    .update(parts.map((part) => `${Buffer.byteLength(part, "utf8")}:${part}`).join("\n"))
    .digest();
}

/** The unsubscribe token for `uid` at `email` (the address the email is sent to). */
export function signUnsubscribeToken(input: { secret: string; uid: string; email: string }): string {
  return [
    TOKEN_VERSION,
    Buffer.from(input.uid, "utf8").toString("base64url"),
    mac(input).toString("base64url"),
  ].join(".");
}

/**
 * The uid a token names, read without checking the signature (to look up the user's address),
 * or null when the token is malformed. Never act on it before `verifyUnsubscribeToken`.
 */
export function unsubscribeTokenUid(token: string): string | null {
  const [version, encodedUid, signature, ...rest] = token.split(".");
  if (version !== TOKEN_VERSION || !encodedUid || !signature || rest.length > 0) return null;
  if (!/^[A-Za-z0-9_-]+$/.test(encodedUid) || !/^[A-Za-z0-9_-]{43}$/.test(signature)) return null;
  const uid = Buffer.from(encodedUid, "base64url").toString("utf8");
  // Round-trips only for canonical base64url of valid UTF-8: one token per uid. The uid is read
  // before the signature can be checked, so one no user document can have ('/', "..", `__x__`)
  // is refused here: passed on, it would be a Firestore error (a 503) instead of a 400.
  if (
    uid.length > MAX_UID_LENGTH ||
    !isDocumentId(uid) ||
    Buffer.from(uid, "utf8").toString("base64url") !== encodedUid
  )
    return null;
  return uid;
}

/**
 * True when `token` was signed for this uid and this address with `secret`; compares the MACs in
 * constant time.
 */
export function verifyUnsubscribeToken(input: {
  secret: string;
  token: string;
  uid: string;
  email: string;
}): boolean {
  if (unsubscribeTokenUid(input.token) !== input.uid) return false;
  // The encoded forms are compared, not the decoded bytes: base64url's last character carries
  // two unused bits, and a token must have one spelling only.
  const signature = Buffer.from(input.token.split(".")[2] ?? "", "utf8");
  const expected = Buffer.from(mac(input).toString("base64url"), "utf8");
  return signature.length === expected.length && timingSafeEqual(signature, expected);
}

/** The unsubscribe page for a token: the `List-Unsubscribe` URL and the email footer's link. */
export function unsubscribeUrl({ pageUrl, token }: { pageUrl: string; token: string }): string {
  return `${pageUrl}?token=${encodeURIComponent(token)}`;
}

/**
 * The headers of RFC 2369 and RFC 8058: the HTTPS URL first (what one-click clients POST to), a
 * `mailto:` after it when a mailbox is configured, and the one-click marker. The values hold no
 * CR/LF: the URL is the engine's own and the token base64url.
 */
export function listUnsubscribeHeaders({
  url,
  mailto,
}: {
  url: string;
  mailto: string | null;
}): Record<string, string> {
  const targets = [`<${url}>`];
  if (mailto) targets.push(`<mailto:${mailto}?subject=unsubscribe>`);
  return {
    "List-Unsubscribe": targets.join(", "),
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
  };
}
