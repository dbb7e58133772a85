import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import { createFirestoreQuotaStore } from "@/adapters/firestore/quota-store";
import { createFirestoreUserKeyStore } from "@/adapters/firestore/user-key-store";
import { createOpenRouterCoach } from "@/adapters/llm/openrouter-coach";
import { type AppConfig, requireKeyring, requireSetting } from "@/config";
import { logger } from "@/logger";
import { createFallbackCoach, keyStatusFor } from "@/pipeline/keyed-coach";
import type { CoachModel } from "@/pipeline/processor-ports";
import { createQuotaCoach } from "@/pipeline/quota-coach";

/**
 * The model for one user's run: their own OpenRouter key when they stored a usable one (with the
 * default key behind it, and their own-key limits), otherwise the default key with the shared
 * limits; quotas checked before every call either way.
 */
export function modelResolver(
  config: AppConfig,
  db: Firestore,
): (uid: string, now: number) => Promise<CoachModel> {
  const defaultModel = createOpenRouterCoach({
    apiKey: requireSetting(config, "OPENROUTER_API_KEY"),
    keySource: "default",
    ...config.llm,
  });
  const quota = createFirestoreQuotaStore(db);
  const userKeys = config.env.ENCRYPTION_KEY ? createFirestoreUserKeyStore(db, requireKeyring(config)) : null;

  return async (uid, now) => {
    const ownKey = userKeys ? await userKeys.getUsableKey(uid) : null;
    if (!ownKey || !userKeys) {
      return createQuotaCoach({
        model: defaultModel,
        quota,
        uid,
        limits: config.quotas.shared,
        now,
        keySource: "default",
      });
    }
    const model = createFallbackCoach({
      userModel: createOpenRouterCoach({ apiKey: ownKey.apiKey, keySource: "user", ...config.llm }),
      defaultModel,
      onUserKeyRejected: async ({ statusCode, reason }) => {
        const status = keyStatusFor(statusCode);
        logger.warn("user key rejected; using the default key", { uid, statusCode, status });
        await userKeys.markStatus({ uid, status, reason, now });
      },
    });
    return createQuotaCoach({ model, quota, uid, limits: config.quotas.ownKey, now, keySource: "user" });
  };
}
