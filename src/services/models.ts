import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import { createFirestoreQuotaStore } from "@/adapters/firestore/quota-store";
import { createFirestoreUserKeyStore } from "@/adapters/firestore/user-key-store";
import { createOpenRouterCoach } from "@/adapters/llm/openrouter-coach";
import { type AppConfig, requireKeyring, requireSetting } from "@/config";
import { logger } from "@/logger";
import { createFallbackCoach } from "@/pipeline/keyed-coach";
import type { CoachModel } from "@/pipeline/processor-ports";
import { createQuotaCoach } from "@/pipeline/quota-coach";

/**
 * The model for one user's run. With a usable key of their own (stored, decryptable, not resting
 * after rejections): their key under the own-key limits, with the default key behind it under the
 * default-key limits and budget. Otherwise the default key under the default-key limits. Every
 * call takes its quota from the key that pays for it.
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
    const onDefaultKey = createQuotaCoach({
      model: defaultModel,
      quota,
      uid,
      limits: config.quotas.shared,
      now,
      keySource: "default",
    });
    const ownKey = userKeys ? await userKeys.getUsableKey({ uid, now }) : null;
    if (!ownKey || !userKeys) return onDefaultKey;
    return createFallbackCoach({
      userModel: createQuotaCoach({
        model: createOpenRouterCoach({ apiKey: ownKey.apiKey, keySource: "user", ...config.llm }),
        quota,
        uid,
        limits: config.quotas.ownKey,
        now,
        keySource: "user",
      }),
      defaultModel: onDefaultKey,
      // Marking the key is bookkeeping: a failure to write it is logged, never fails the call.
      onUserKeyRejected: async ({ statusCode, reason }) => {
        try {
          const rest = await userKeys.recordRejection({ uid, statusCode, reason, now });
          logger.warn("user key rejected; using the default key", { uid, statusCode, ...rest });
        } catch (error) {
          logger.warn("could not mark a rejected user key", { uid, statusCode, error: String(error) });
        }
      },
      onUserKeyAccepted: async () => {
        if (ownKey.consecutiveRejections === 0 && ownKey.status === "active") return;
        try {
          await userKeys.recordAcceptance({ uid, now });
        } catch (error) {
          logger.warn("could not mark a recovered user key", { uid, error: String(error) });
        }
      },
    });
  };
}
