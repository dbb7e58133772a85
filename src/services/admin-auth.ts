import "server-only";
import { createHash } from "node:crypto";
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { getDb } from "@/adapters/firestore/client";
import { type AppConfig, getConfig, requireSetting } from "@/config";
import {
  createSessionToken,
  SESSION_COOKIE,
  sessionCookieAttributes,
  verifySessionToken,
} from "@/http/admin-session";
import { secretsMatch } from "@/http/auth";
import { logger } from "@/logger";

/** Wrong passwords from one address: after the third, each attempt must wait 2^(n−3) s, up to 5 min. */
const FREE_ATTEMPTS = 3;
const MAX_DELAY_MS = 5 * 60_000;

export function loginDelayMs(failures: number): number {
  if (failures < FREE_ATTEMPTS) return 0;
  return Math.min(MAX_DELAY_MS, 1_000 * 2 ** (failures - FREE_ATTEMPTS));
}

/** The session check for pages and Server Actions; the proxy's check is not the only one. */
export async function requireAdminSession(): Promise<void> {
  const config = getConfig();
  const adminPassword = config.env.ADMIN_PASSWORD;
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  if (!adminPassword || !verifySessionToken({ token, adminPassword, now: Date.now() }))
    redirect("/admin/login");
}

export async function hasAdminSession(): Promise<boolean> {
  const adminPassword = getConfig().env.ADMIN_PASSWORD;
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  return (
    Boolean(adminPassword) &&
    verifySessionToken({ token, adminPassword: adminPassword ?? "", now: Date.now() })
  );
}

function throttleRef(config: AppConfig, clientAddress: string) {
  const id = createHash("sha256").update(clientAddress).digest("hex").slice(0, 32);
  return getDb(config).collection("adminLoginThrottle").doc(id);
}

export type LoginResult = { ok: true } | { ok: false; error: string };

/** Checks the password (constant time), slowing down repeated failures from one address. */
export async function signIn({
  password,
  clientAddress,
}: {
  password: string;
  clientAddress: string;
}): Promise<LoginResult> {
  const config = getConfig();
  const adminPassword = requireSetting(config, "ADMIN_PASSWORD");
  const now = Date.now();
  const throttle = throttleRef(config, clientAddress);
  const record = (await throttle.get()).data() as { failures?: number; lastFailureAt?: number } | undefined;
  const failures = record?.failures ?? 0;
  const waitUntil = (record?.lastFailureAt ?? 0) + loginDelayMs(failures);
  if (now < waitUntil) {
    return { ok: false, error: `Too many attempts. Try again in ${Math.ceil((waitUntil - now) / 1000)} s.` };
  }
  if (!secretsMatch(password, adminPassword)) {
    await throttle.set({ failures: failures + 1, lastFailureAt: now });
    logger.warn("admin sign-in failed", { failures: failures + 1 });
    return { ok: false, error: "Wrong password." };
  }
  if (record) await throttle.delete();
  (await cookies()).set(
    SESSION_COOKIE,
    createSessionToken({ adminPassword, now }),
    sessionCookieAttributes({ secure: config.appUrl.startsWith("https://") }),
  );
  return { ok: true };
}

export async function signOut(): Promise<void> {
  (await cookies()).delete(SESSION_COOKIE);
}
