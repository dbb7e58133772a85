import "server-only";
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { getDb } from "@/adapters/firestore/client";
import {
  createFirestoreLoginThrottle,
  type LoginAdmission,
  type LoginBucket,
} from "@/adapters/firestore/login-throttle-store";
import { getConfig } from "@/config";
import { loginThrottleBucket } from "@/core/login-throttle";
import {
  createDeviceToken,
  createSessionToken,
  DEVICE_COOKIE,
  deviceCookieAttributes,
  SESSION_COOKIE,
  sessionCookieAttributes,
  sessionSecretOf,
  verifyDeviceToken,
  verifySessionToken,
} from "@/http/admin-session";
import { secretsMatch } from "@/http/auth";
import { logger } from "@/logger";

async function sessionIsValid(): Promise<boolean> {
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  return verifySessionToken({ token, sessionSecret: sessionSecretOf(getConfig().admin), now: Date.now() });
}

/** The session check for pages and Server Actions; the proxy's check is not the only one. */
export async function requireAdminSession(): Promise<void> {
  if (!(await sessionIsValid())) redirect("/admin/login");
}

export async function hasAdminSession(): Promise<boolean> {
  return sessionIsValid();
}

/** Why a sign-in failed: the page is sent only the code and shows its own text for it. */
export type LoginErrorCode = "unconfigured" | "unavailable" | "throttled" | "wrong";

export type LoginResult =
  | { ok: true }
  | { ok: false; code: LoginErrorCode; error: string; retryAfterSeconds?: number };

/**
 * The sign-in page's message for a code. Fixed texts only: the code arrives in the page's URL,
 * where anyone can write anything, so nothing from the URL is shown but a whole number of seconds.
 */
export function loginErrorMessage(code: string | undefined, retryAfterSeconds?: number): string | undefined {
  switch (code) {
    case "unconfigured":
      return "Admin sign-in is not configured: set ADMIN_PASSWORD and ADMIN_SESSION_SECRET (at least 32 characters, not the password).";
    case "unavailable":
      return "Sign-in is unavailable right now; try again in a minute.";
    case "throttled":
      return retryAfterSeconds !== undefined &&
        Number.isSafeInteger(retryAfterSeconds) &&
        retryAfterSeconds > 0
        ? `Too many attempts. Try again in ${retryAfterSeconds} s.`
        : "Too many attempts. Try again later.";
    case "wrong":
      return "Wrong password.";
    default:
      return undefined;
  }
}

function failure(code: LoginErrorCode, retryAfterSeconds?: number): LoginResult {
  return {
    ok: false,
    code,
    error: loginErrorMessage(code, retryAfterSeconds) ?? code,
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  };
}

/**
 * Checks the password (constant time) once the throttle admits the guess: a few per address
 * bucket (an IPv6 /64 counts as one address) and a ceiling across all addresses, per window; a
 * known device (a cookie from an earlier successful sign-in) gets a few of its own instead, so
 * neither a forged or shared address nor the ceiling can lock its holder out.
 */
export async function signIn({
  password,
  clientAddress,
}: {
  password: string;
  clientAddress: string;
}): Promise<LoginResult> {
  const config = getConfig();
  const adminPassword = config.admin.password;
  const sessionSecret = sessionSecretOf(config.admin);
  if (!adminPassword || !sessionSecret) {
    logger.error("admin sign-in is not configured");
    return failure("unconfigured");
  }
  const now = Date.now();
  const cookieJar = await cookies();
  const deviceToken = cookieJar.get(DEVICE_COOKIE)?.value;
  const knownDevice = verifyDeviceToken({ token: deviceToken, sessionSecret, now });
  const bucket: LoginBucket =
    knownDevice && deviceToken
      ? { kind: "device", key: deviceToken }
      : { kind: "address", key: loginThrottleBucket(clientAddress) };
  let admission: LoginAdmission;
  try {
    admission = await createFirestoreLoginThrottle(getDb(config)).admit({ bucket, now });
  } catch (error) {
    // Fails closed: no guess is checked while the throttle cannot count it.
    logger.error("admin sign-in throttle unavailable", { error });
    return failure("unavailable");
  }
  if (!admission.admitted) {
    logger.warn("admin sign-in throttled", { scope: admission.scope, knownDevice });
    return failure("throttled", Math.ceil(admission.retryAfterMs / 1000));
  }
  if (!secretsMatch(password, adminPassword)) {
    logger.warn("admin sign-in failed", { knownDevice });
    return failure("wrong");
  }
  const secure = config.appUrl.startsWith("https://");
  cookieJar.set(
    SESSION_COOKIE,
    createSessionToken({ sessionSecret, now }),
    sessionCookieAttributes({ secure }),
  );
  cookieJar.set(DEVICE_COOKIE, createDeviceToken({ sessionSecret, now }), deviceCookieAttributes({ secure }));
  return { ok: true };
}

export async function signOut(): Promise<void> {
  (await cookies()).delete(SESSION_COOKIE);
}
