import "server-only";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * The admin session: a cookie holding `base64url(payload).base64url(HMAC-SHA256)`, payload
 * `{ iat, exp, nonce }`. The HMAC key is ADMIN_SESSION_SECRET, a high-entropy secret of its own:
 * were it derived from ADMIN_PASSWORD, one stolen cookie would let anyone test password guesses
 * offline at full speed. Rotating the secret signs every session out. Verification is constant
 * time and checks the expiry.
 */
export const SESSION_COOKIE = "ce_admin_session";
export const SESSION_TTL_MS = 12 * 3_600_000;

/**
 * The known-device cookie, set at each successful sign-in: its holder is throttled per device
 * instead of per address and is exempt from the global ceiling, so neither addresses that fill
 * the ceiling nor guesses sent as the admin's address can lock out an admin who has signed in
 * from this browser before. Same format and key as the session, signed for another purpose, so neither token
 * passes for the other.
 */
export const DEVICE_COOKIE = "ce_admin_device";
export const DEVICE_TTL_MS = 180 * 24 * 3_600_000;

type TokenPurpose = "admin-session" | "admin-device";

/**
 * The key sessions are signed with, or undefined while the admin area is not configured: both
 * ADMIN_PASSWORD and ADMIN_SESSION_SECRET set, and not to the same value (that would bring back
 * the offline guessing a separate secret exists to prevent).
 */
export function sessionSecretOf({
  password,
  sessionSecret,
}: {
  password: string | null;
  sessionSecret: string | null;
}): string | undefined {
  return password && sessionSecret && sessionSecret !== password ? sessionSecret : undefined;
}

function sign(payload: string, sessionSecret: string, purpose: TokenPurpose): string {
  return createHmac("sha256", `coaching-engine:${purpose}:${sessionSecret}`)
    .update(payload)
    .digest("base64url");
}

function createToken({
  sessionSecret,
  now,
  ttlMs,
  purpose,
}: {
  sessionSecret: string;
  now: number;
  ttlMs: number;
  purpose: TokenPurpose;
}): string {
  const payload = Buffer.from(
    JSON.stringify({ iat: now, exp: now + ttlMs, nonce: randomBytes(12).toString("base64url") }),
  ).toString("base64url");
  return `${payload}.${sign(payload, sessionSecret, purpose)}`;
}

export function createSessionToken({ sessionSecret, now }: { sessionSecret: string; now: number }): string {
  return createToken({ sessionSecret, now, ttlMs: SESSION_TTL_MS, purpose: "admin-session" });
}

export function createDeviceToken({ sessionSecret, now }: { sessionSecret: string; now: number }): string {
  return createToken({ sessionSecret, now, ttlMs: DEVICE_TTL_MS, purpose: "admin-device" });
}

interface TokenCheck {
  token: string | undefined;
  /** Unset means no token is valid: the admin area fails closed. */
  sessionSecret: string | undefined;
  now: number;
}

export function verifySessionToken(check: TokenCheck): boolean {
  return verifyToken(check, "admin-session");
}

export function verifyDeviceToken(check: TokenCheck): boolean {
  return verifyToken(check, "admin-device");
}

function verifyToken({ token, sessionSecret, now }: TokenCheck, purpose: TokenPurpose): boolean {
  if (!token || !sessionSecret) return false;
  const [payload, signature, extra] = token.split(".");
  if (!payload || !signature || extra !== undefined) return false;
  const expected = Buffer.from(sign(payload, sessionSecret, purpose));
  const presented = Buffer.from(signature);
  if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) return false;
  try {
    const { exp } = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown };
    return typeof exp === "number" && exp > now;
  } catch {
    return false;
  }
}

/** Reads one cookie from a Cookie header. */
export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return undefined;
}

export function sessionCookieAttributes({ secure }: { secure: boolean }) {
  return {
    httpOnly: true,
    sameSite: "strict" as const,
    secure,
    path: "/",
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  };
}

/** Sent only to the sign-in page's action, where it is read. */
export function deviceCookieAttributes({ secure }: { secure: boolean }) {
  return { ...sessionCookieAttributes({ secure }), path: "/admin", maxAge: Math.floor(DEVICE_TTL_MS / 1000) };
}
