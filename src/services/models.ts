import type { QuotaLimits } from "@/core/quota";
import type { KeyStatus } from "@/core/user-key-health";
import { createFallbackCoach } from "@/pipeline/keyed-coach";
import type { LlmCallCeiling, QuotaGate } from "@/pipeline/llm-limit-ports";
import type { CoachModel, ResolveRunModel } from "@/pipeline/model-ports";
import { createRunQuotaCoach } from "@/pipeline/quota-coach";

/** What the resolver needs of the users' own keys (adapters/firestore/user-key-store.ts). */
export interface UserKeyLookup {
  /** Whether a key document exists at all, and the key to use at `now` (none while it rests). */
  findKey(input: { uid: string; now: number }): Promise<{
    stored: boolean;
    usable: { apiKey: string; status: KeyStatus; consecutiveRejections: number } | null;
  }>;
  recordRejection(input: {
    uid: string;
    statusCode: number;
    reason: string;
    now: number;
  }): Promise<{ consecutiveRejections: number; coolingUntil: number } | null>;
  recordAcceptance(input: { uid: string; now: number }): Promise<void>;
}

export interface ModelWiring {
  /** The model on the engine's default key. */
  defaultModel: CoachModel;
  /** A model on a user's own key (OpenRouter at the configured base URL in production). */
  modelForKey: (apiKey: string) => CoachModel;
  quota: QuotaGate;
  limits: { shared: QuotaLimits; ownKey: QuotaLimits };
  /** Null without ENCRYPTION_KEY: no user can have a usable key of their own. */
  userKeys: UserKeyLookup | null;
  /** The global ceiling on calls on the engine's default key; null when LLM_CALLS_PER_MINUTE is unset. */
  ceiling: LlmCallCeiling | null;
  warn: (message: string, context: Record<string, unknown>) => void;
}

/**
 * The model for one user's run. With a usable key of their own (stored, decryptable, not resting
 * after rejections): their key under the own-key limits, with the default key behind it under the
 * default-key limits, budget and the global ceiling. Otherwise the default key under the
 * default-key limits and the ceiling. Every call takes its quota from the key that pays for it;
 * the ceiling shapes calls on the engine's key only (a user's key is under their provider's limit).
 */
export function createRunModelResolver(wiring: ModelWiring): ResolveRunModel {
  const { limits, userKeys, ceiling } = wiring;
  return async ({ uid, now, expectedCalls, ownKeyAbsent = false, quota = wiring.quota }) => {
    const onDefaultKey = createRunQuotaCoach({
      model: wiring.defaultModel,
      quota,
      uid,
      limits: limits.shared,
      now,
      keySource: "default",
      expectedCalls,
      ceiling,
      warn: wiring.warn,
    });
    // The processing state's word that the user has no key saves the lookup (one read per run).
    const lookup = userKeys && !ownKeyAbsent ? await userKeys.findKey({ uid, now }) : null;
    const ownKey = lookup?.usable ?? null;
    if (!ownKey || !userKeys) return lookup ? { ...onDefaultKey, ownKeyStored: lookup.stored } : onDefaultKey;
    const onOwnKey = createRunQuotaCoach({
      model: wiring.modelForKey(ownKey.apiKey),
      quota,
      uid,
      limits: limits.ownKey,
      now,
      keySource: "user",
      expectedCalls,
      // A user's own key is under their provider's limits, not the engine's ceiling.
      ceiling: null,
    });
    return {
      model: createFallbackCoach({
        userModel: onOwnKey.model,
        defaultModel: onDefaultKey.model,
        // Marking the key is bookkeeping: a failure to write it is logged, never fails the call.
        onUserKeyRejected: async ({ statusCode, reason }) => {
          try {
            const rest = await userKeys.recordRejection({ uid, statusCode, reason, now });
            wiring.warn("user key rejected; using the default key", { uid, statusCode, ...rest });
          } catch (error) {
            wiring.warn("could not mark a rejected user key", { uid, statusCode, error: String(error) });
          }
        },
        onUserKeyAccepted: async () => {
          if (ownKey.consecutiveRejections === 0 && ownKey.status === "active") return;
          try {
            await userKeys.recordAcceptance({ uid, now });
          } catch (error) {
            wiring.warn("could not mark a recovered user key", { uid, error: String(error) });
          }
        },
      }),
      settle: async () => {
        await Promise.all([onOwnKey.settle(), onDefaultKey.settle()]);
      },
      ownKeyStored: true,
    };
  };
}
