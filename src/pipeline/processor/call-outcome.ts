/**
 * How a run's LLM call ends it when it does not yield a draft: a call not made (a quota, the
 * global ceiling: a deferral to when it frees), or a failed call (the user's failure, or the
 * provider's on the engine's key), and the approval a run ends with.
 */
import { isProviderUnavailable } from "@/core/circuit-breaker";
import type { LlmResult } from "../model-ports";
import type { StoredMessage } from "../processor-store-ports";

/**
 * How a failed LLM call ends the slot. The provider failing the engine's default key is an outage,
 * not the user's failure (a deferral). On the user's own key it is their failure like any other
 * and counts towards their suspension: their key's limits, or a context that times out every run,
 * must not defer them forever. (A key rejection, 429 included, never ends a run on the own key:
 * the call is made again on the default key, and that call's outcome is the one judged here.)
 */
export type CallFailureOutcome = "generation_failed" | "provider_unavailable";

export function callFailureOutcome(result: Extract<LlmResult<unknown>, { ok: false }>): CallFailureOutcome {
  return result.call.keySource === "default" && isProviderUnavailable(result)
    ? "provider_unavailable"
    : "generation_failed";
}

export type Approval =
  | { ok: true; message: StoredMessage }
  | { ok: false; outcome: "gate_failed" | CallFailureOutcome | "breaker_open"; reason: string }
  | { ok: false; outcome: "quota_exceeded" | "ceiling_reached"; reason: string; retryAt: number };

/** Spread of the users deferred by the ceiling over the next minute's first seconds. */
export const CEILING_JITTER_MS = 10_000;

/**
 * A few seconds, the same for a user every time (a hash of the uid): the users a spent ceiling
 * deferred to the next minute are not all due at one instant.
 */
export function ceilingJitterMs(uid: string): number {
  let hash = 2_166_136_261;
  for (let index = 0; index < uid.length; index += 1) {
    hash = Math.imul(hash ^ uid.charCodeAt(index), 16_777_619) >>> 0;
  }
  return hash % CEILING_JITTER_MS;
}

/**
 * No call was made (a per-user quota used up, or the global ceiling spent): the user comes back
 * when it frees, nothing is stored, nothing counts against them. Null when a call was made.
 */
export function admissionStop(
  uid: string,
  result: { ok: boolean; quotaRetryAt?: number; ceilingRetryAt?: number },
  reason: string,
): Approval | null {
  if (result.ok) return null;
  if (result.ceilingRetryAt !== undefined)
    return {
      ok: false,
      outcome: "ceiling_reached",
      reason,
      retryAt: result.ceilingRetryAt + ceilingJitterMs(uid),
    };
  if (result.quotaRetryAt !== undefined)
    return { ok: false, outcome: "quota_exceeded", reason, retryAt: result.quotaRetryAt };
  return null;
}
