import "server-only";
import { describeError } from "@/core/errors";

export type KeyCheck = { ok: true } | { ok: false; status: number | null; reason: string };

/**
 * Asks OpenRouter whether a key works (`GET /key`, which answers for a valid key and 401 for an
 * unknown one), before the key is stored. The key travels only in the Authorization header.
 */
export async function checkOpenRouterKey({
  baseURL,
  apiKey,
  timeoutMs = 10_000,
  fetchImpl = fetch,
}: {
  baseURL: string;
  apiKey: string;
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
}): Promise<KeyCheck> {
  try {
    const response = await fetchImpl(`${baseURL.replace(/\/+$/, "")}/key`, {
      headers: { authorization: `Bearer ${apiKey}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    if (response.ok) return { ok: true };
    return {
      ok: false,
      status: response.status,
      reason: `OpenRouter refused the key (HTTP ${response.status})`,
    };
  } catch (error) {
    return {
      ok: false,
      status: null,
      reason: `could not reach OpenRouter to check the key: ${describeError(error)}`,
    };
  }
}
