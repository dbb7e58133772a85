import "server-only";
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { getDb } from "@/adapters/firestore/client";
import { createFirestoreLoginThrottle, type LoginAdmission } from "@/adapters/firestore/login-throttle-store";
import { getConfig } from "@/config";
import { loginThrottleBucket } from "@/core/login-throttle";
import {
  createSessionToken,
  SESSION_COOKIE,
  sessionCookieAttributes,
  sessionSecretOf,
  verifySessionToken,
} from "@/http/admin-session";
import { secretsMatch } from "@/http/auth";
import { logger } from "@/logger";

async function sessionIsValid(): Promise<boolean> {
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  return verifySessionToken({ token, sessionSecret: sessionSecretOf(getConfig().env), now: Date.now() });
}

/** The session check for pages and Server Actions; the proxy's check is not the only one. */
export async function requireAdminSession(): Promise<void> {
  if (!(await sessionIsValid())) redirect("/admin/login");
}

export async function hasAdminSession(): Promise<boolean> {
  return sessionIsValid();
}

export type LoginResult = { ok: true } | { ok: false; error: string };

/**
 * Checks the password (constant time) once the throttle admits the guess: a few per address
 * bucket (an IPv6 /64 counts as one address) and a ceiling across all addresses, per window.
 */
export async function signIn({
  password,
  clientAddress,
}: {
  password: string;
  clientAddress: string;
}): Promise<LoginResult> {
  const config = getConfig();
  const adminPassword = config.env.ADMIN_PASSWORD;
  const sessionSecret = sessionSecretOf(config.env);
  if (!adminPassword || !sessionSecret) {
    logger.error("admin sign-in is not configured");
    return {
      ok: false,
      error:
        "Admin sign-in is not configured: set ADMIN_PASSWORD and ADMIN_SESSION_SECRET (at least 32 characters, not the password).",
    };
  }
  const now = Date.now();
  let admission: LoginAdmission;
  try {
    admission = await createFirestoreLoginThrottle(getDb(config)).admit({
      bucket: loginThrottleBucket(clientAddress),
      now,
    });
  } catch (error) {
    // Fails closed: no guess is checked while the throttle cannot count it.
    logger.error("admin sign-in throttle unavailable", { error });
    return { ok: false, error: "Sign-in is unavailable right now; try again in a minute." };
  }
  if (!admission.admitted) {
    logger.warn("admin sign-in throttled", { scope: admission.scope });
    return {
      ok: false,
      error: `Too many attempts. Try again in ${Math.ceil(admission.retryAfterMs / 1000)} s.`,
    };
  }
  if (!secretsMatch(password, adminPassword)) {
    logger.warn("admin sign-in failed");
    return { ok: false, error: "Wrong password." };
  }
  (await cookies()).set(
    SESSION_COOKIE,
    createSessionToken({ sessionSecret, now }),
    sessionCookieAttributes({ secure: config.appUrl.startsWith("https://") }),
  );
  return { ok: true };
}

export async function signOut(): Promise<void> {
  (await cookies()).delete(SESSION_COOKIE);
}
