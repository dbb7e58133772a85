/**
 * Web Push (RFC 8030, 8291, 8292) as the engine uses it: which endpoints it sends to, the id of
 * a stored subscription, and the headers that make a retried push replace rather than stack.
 * Pure.
 */
import { createECDH, createHash } from "node:crypto";

/** A user's browsers: beyond this, registering one more drops the oldest. */
export const MAX_PUSH_SUBSCRIPTIONS_PER_USER = 10;

/**
 * How long a push service keeps an undelivered push (seconds): a coaching nudge is stale after a
 * day; the message itself stays in the journal.
 */
export const PUSH_TTL_SECONDS = 24 * 3_600;

/**
 * Push services of the browsers in use. A subscription's endpoint is a URL the engine will POST
 * to, so it must be one of these (or an origin configured in PUSH_SERVICE_ORIGINS): otherwise a
 * user could point the engine at any address (server-side request forgery). Google's is one exact
 * host: anyone can hold a name under googleapis.com (`<bucket>.storage.googleapis.com`), while
 * every name under the other suffixes is the browser vendor's own push service.
 */
const KNOWN_PUSH_HOSTS = [
  "fcm.googleapis.com", // Chrome, Edge on Android (FCM)
  "jmt17.google.com", // FCM for Chromium builds without Google's API keys (Linux distributions)
] as const;
const KNOWN_PUSH_HOST_SUFFIXES = [
  ".push.services.mozilla.com", // Firefox
  ".push.apple.com", // Safari
  ".notify.windows.com", // Edge on Windows (WNS)
] as const;

/** True when the engine may send pushes to `endpoint`. */
export function isAllowedPushEndpoint(endpoint: string, extraOrigins: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  // Before the configured origins: `origin` drops userinfo, and fetch refuses a URL holding it.
  if (url.username || url.password) return false;
  if (extraOrigins.includes(url.origin)) return true;
  if (url.protocol !== "https:" || url.port) return false;
  return (
    KNOWN_PUSH_HOSTS.some((host) => url.hostname === host) ||
    KNOWN_PUSH_HOST_SUFFIXES.some((suffix) => url.hostname.endsWith(suffix))
  );
}

/**
 * True when `p256dh` (base64url) is a point on the P-256 curve, the key a push is encrypted to
 * (RFC 8291). 65 bytes are not enough: a registration with any other 65 bytes could never be
 * sent to, and each of its message's deliveries would fail.
 */
export function isPushPublicKey(p256dh: string): boolean {
  const key = Buffer.from(p256dh, "base64url");
  if (key.length !== 65 || key[0] !== 0x04) return false;
  try {
    const ecdh = createECDH("prime256v1");
    ecdh.generateKeys();
    ecdh.computeSecret(key);
    return true;
  } catch {
    return false;
  }
}

/** True when a push can be encrypted to these keys: a P-256 point and a 16-byte auth secret. */
export function arePushKeysUsable(keys: { p256dh: string; auth: string }): boolean {
  return isPushPublicKey(keys.p256dh) && Buffer.from(keys.auth, "base64url").length === 16;
}

/** `{uid}_{32 hex of sha256(endpoint)}`: one document per browser, whatever the endpoint holds. */
export function pushSubscriptionId(uid: string, endpoint: string): string {
  return `${uid}_${createHash("sha256").update(endpoint).digest("hex").slice(0, 32)}`;
}

/**
 * The `Topic` header of a message's push (RFC 8030 §5.4: at most 32 base64url characters): a
 * push service replaces an undelivered push of the same topic, so a retry never stacks.
 */
export function pushTopicFor(messageId: string): string {
  return createHash("sha256").update(messageId).digest("base64url").slice(0, 32);
}
