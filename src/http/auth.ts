import "server-only";
import { createHash, timingSafeEqual } from "node:crypto";
import { type AppConfig, requireSetting } from "@/config";
import { AppError } from "@/core/errors";
import { readCookie, SESSION_COOKIE, sessionSecretOf, verifySessionToken } from "./admin-session";

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/**
 * Whether `presented` equals `expected`, in time independent of where they differ. Both are
 * hashed first because `timingSafeEqual` throws on unequal lengths (and its length check would
 * leak the secret's length).
 */
export function secretsMatch(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

function bearerToken(request: Request): string | undefined {
  const header = request.headers.get("authorization");
  const match = header ? /^Bearer (.+)$/.exec(header) : null;
  return match?.[1];
}

/**
 * Demands `Authorization: Bearer <CRON_SECRET>`, as Vercel cron sends it. Fails closed: with
 * `CRON_SECRET` unset every request is refused (naming the variable), so `Bearer undefined`
 * can never match.
 */
export function requireCronSecret(request: Request, config: AppConfig): void {
  const expected = requireSetting(config, "CRON_SECRET");
  const presented = bearerToken(request);
  if (!presented || !secretsMatch(presented, expected)) {
    throw new AppError("unauthorized:auth", "missing or invalid bearer token");
  }
}

/**
 * The admin API's gate: a valid admin session cookie (the admin pages), or, for scripts and
 * operators' tools, the cron bearer secret. Fails closed when ADMIN_PASSWORD or
 * ADMIN_SESSION_SECRET is unset.
 */
export function requireAdmin(request: Request, config: AppConfig): void {
  if (bearerToken(request) !== undefined) {
    requireCronSecret(request, config);
    return;
  }
  requireSetting(config, "ADMIN_PASSWORD");
  requireSetting(config, "ADMIN_SESSION_SECRET");
  const token = readCookie(request.headers.get("cookie"), SESSION_COOKIE);
  if (!verifySessionToken({ token, sessionSecret: sessionSecretOf(config.admin), now: Date.now() })) {
    throw new AppError("unauthorized:auth", "sign in as an admin");
  }
}
