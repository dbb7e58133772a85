import "server-only";
import { getAuth } from "firebase-admin/auth";
import type { AppConfig } from "@/config";
import { AppError } from "@/core/errors";
import { appFor } from "../firestore/client";

/**
 * The uid of the Firebase ID token in `Authorization: Bearer <token>`. firebase-admin checks
 * signature, issuer, audience and expiry (with FIREBASE_AUTH_EMULATOR_HOST set it accepts the
 * Auth emulator's unsigned tokens, as the emulator does), and, asked with `checkRevoked`, looks
 * the user up to refuse a disabled account or a token issued before its tokens were revoked
 * (a signed-out or compromised session stays usable for up to an hour otherwise). That is one
 * Auth lookup per request, on routes a user calls by hand. Anything wrong is a 401.
 */
export async function requireFirebaseUser(request: Request, config: AppConfig): Promise<string> {
  const header = request.headers.get("authorization");
  const token = header ? /^Bearer (\S+)$/.exec(header)?.[1] : undefined;
  if (!token) throw new AppError("unauthorized:auth", "missing bearer ID token");
  try {
    const decoded = await getAuth(appFor(config)).verifyIdToken(token, true);
    return decoded.uid;
  } catch (error) {
    throw new AppError("unauthorized:auth", "invalid or expired ID token", { cause: error });
  }
}
