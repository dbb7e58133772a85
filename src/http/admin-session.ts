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
 * The key sessions are signed with, or undefined while the admin area is not configured: both
 * ADMIN_PASSWORD and ADMIN_SESSION_SECRET set, and not to the same value (that would bring back
 * the offline guessing a separate secret exists to prevent).
 */
export function sessionSecretOf(env: {
  ADMIN_PASSWORD?: string | undefined;
  ADMIN_SESSION_SECRET?: string | undefined;
}): string | undefined {
  const { ADMIN_PASSWORD: password, ADMIN_SESSION_SECRET: secret } = env;
  return password && secret && secret !== password ? secret : undefined;
}

function sign(payload: string, sessionSecret: string): string {
  return createHmac("sha256", `coaching-engine:admin-session:${sessionSecret}`)
    .update(payload)
    .digest("base64url");
}

export function createSessionToken({ sessionSecret, now }: { sessionSecret: string; now: number }): string {
  const payload = Buffer.from(
    JSON.stringify({ iat: now, exp: now + SESSION_TTL_MS, nonce: randomBytes(12).toString("base64url") }),
  ).toString("base64url");
  return `${payload}.${sign(payload, sessionSecret)}`;
}

export function verifySessionToken({
  token,
  sessionSecret,
  now,
}: {
  token: string | undefined;
  /** Unset means no session is valid: the admin area fails closed. */
  sessionSecret: string | undefined;
  now: number;
}): boolean {
  if (!token || !sessionSecret) return false;
  const [payload, signature, extra] = token.split(".");
  if (!payload || !signature || extra !== undefined) return false;
  const expected = Buffer.from(sign(payload, sessionSecret));
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
