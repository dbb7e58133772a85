import "server-only";
import { getDb } from "@/adapters/firestore/client";
import { createFirestoreProcessingStateStore } from "@/adapters/firestore/processing-state-store";
import { createFirestoreUserKeyStore } from "@/adapters/firestore/user-key-store";
import { checkOpenRouterKey } from "@/adapters/llm/openrouter-key-check";
import { type AppConfig, requireKeyring } from "@/config";
import { AppError } from "@/core/errors";
import { isKeyCooling } from "@/core/user-key-health";
import { logger } from "@/logger";
import { createStateQuotaGate } from "@/pipeline/state-quota";

function keyStore(config: AppConfig) {
  return createFirestoreUserKeyStore(getDb(config), requireKeyring(config));
}

/** Whether the user has a key, its last four characters and status; never the key. */
export async function getKeySummary(config: AppConfig, uid: string) {
  const summary = await keyStore(config).getSummary(uid);
  return summary ? { hasKey: true, key: summary } : { hasKey: false, key: null };
}

/** Checks the key with OpenRouter, then stores it encrypted. The key is never logged or returned. */
export async function setUserKey(
  config: AppConfig,
  { uid, apiKey, now }: { uid: string; apiKey: string; now: number },
) {
  const check = await checkOpenRouterKey({ baseURL: config.llm.baseURL, apiKey });
  if (!check.ok) {
    if (check.status === null) throw new AppError("unavailable:llm", check.reason);
    throw new AppError("bad_request:api", "OpenRouter did not accept this key");
  }
  const summary = await keyStore(config).save({ uid, apiKey, now });
  logger.info("user key stored", { uid, last4: summary.last4 });
  return { hasKey: true, key: summary };
}

export async function deleteUserKey(config: AppConfig, uid: string, now = Date.now()) {
  const removed = await keyStore(config).remove({ uid, now });
  if (!removed) throw new AppError("not_found:api", "no key stored");
  logger.info("user key deleted", { uid });
  return { hasKey: false, key: null };
}

/**
 * Requests this minute, day and month against the limits, tokens and cost, the key's status. With
 * a key of their own, the figures are those of their key, and `defaultKeyFallback` shows what the
 * engine's key served them (after rejections or while the key rests).
 */
export async function getUsage(config: AppConfig, { uid, now }: { uid: string; now: number }) {
  const db = getDb(config);
  const quota = createStateQuotaGate(createFirestoreProcessingStateStore(db));
  const key = config.ownKeyEncryption
    ? await createFirestoreUserKeyStore(db, config.ownKeyEncryption).getSummary(uid)
    : null;
  const usesOwnKey = key !== null && !isKeyCooling({ coolingUntil: key.coolingUntil ?? null }, now);
  const [usage, fallback] = await Promise.all([
    quota.usage({ uid, now, keySource: usesOwnKey ? "user" : "default" }),
    usesOwnKey ? quota.usage({ uid, now, keySource: "default" }) : null,
  ]);
  const limits = usesOwnKey ? config.quotas.ownKey : config.quotas.shared;
  const canRequestNow =
    usage.minute.requests < limits.perMinute &&
    usage.day.requests < limits.perDay &&
    usage.month.requests < limits.perMonth &&
    (limits.monthlyBudgetUsd === null || usage.month.cost < limits.monthlyBudgetUsd);
  return {
    userId: uid,
    keySource: usesOwnKey ? "user" : "default",
    keyStatus: key?.status ?? null,
    keyCoolingUntil: key?.coolingUntil ?? null,
    limits,
    requests: { minute: usage.minute.requests, day: usage.day.requests, month: usage.month.requests },
    tokens: {
      day: { input: usage.day.inputTokens, output: usage.day.outputTokens },
      month: { input: usage.month.inputTokens, output: usage.month.outputTokens },
    },
    costUsd: { day: usage.day.cost, month: usage.month.cost },
    canRequestNow,
    ...(fallback
      ? {
          defaultKeyFallback: {
            limits: config.quotas.shared,
            requests: {
              minute: fallback.minute.requests,
              day: fallback.day.requests,
              month: fallback.month.requests,
            },
            costUsd: { day: fallback.day.cost, month: fallback.month.cost },
          },
        }
      : {}),
  };
}
