import "server-only";
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * The admin session: a cookie holding `base64url(payload).base64url(HMAC-SHA256)`, payload
 * `{ iat, exp, nonce }`. The HMAC key is derived from ADMIN_PASSWORD, so changing the password
 * signs every session out. Verification is constant time and checks the expiry.
 */
export const SESSION_COOKIE = "ce_admin_session";
export const SESSION_TTL_MS = 12 * 3_600_000;

function signingKey(adminPassword: string): Buffer {
  return createHash("sha256").update(`coaching-engine:admin-session:${adminPassword}`).digest();
}

function sign(payload: string, adminPassword: string): string {
  return createHmac("sha256", signingKey(adminPassword)).update(payload).digest("base64url");
}

export function createSessionToken({ adminPassword, now }: { adminPassword: string; now: number }): string {
  const payload = Buffer.from(
    JSON.stringify({ iat: now, exp: now + SESSION_TTL_MS, nonce: randomBytes(12).toString("base64url") }),
  ).toString("base64url");
  return `${payload}.${sign(payload, adminPassword)}`;
}

export function verifySessionToken({
  token,
  adminPassword,
  now,
}: {
  token: string | undefined;
  adminPassword: string;
  now: number;
}): boolean {
  if (!token) return false;
  const [payload, signature, extra] = token.split(".");
  if (!payload || !signature || extra !== undefined) return false;
  const expected = Buffer.from(sign(payload, adminPassword));
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
