import "server-only";
import { describeError } from "@/core/errors";

export const PROCESS_BATCH_PATH = "/api/events/process-batch";

export type DrainContinuation = (
  continuation: number,
) => Promise<{ ok: true } | { ok: false; reason: string }>;

/**
 * Starts another outbox drain by calling the process-batch route itself, with the cron's bearer
 * secret, at the configured base URL (never the request's Host, so a forged header cannot send
 * the secret elsewhere). The route answers 202 at once and drains after the response, so the
 * calling drain never waits for the next one. `continuation` counts the calls of one chain; the
 * route refuses one past EVENT_MAX_CONTINUATIONS, so a chain always ends.
 */
export function createHttpDrainContinuer({
  appUrl,
  cronSecret,
  timeoutMs,
  fetchImpl = fetch,
}: {
  appUrl: string;
  cronSecret: string;
  timeoutMs: number;
  fetchImpl?: typeof fetch;
}): DrainContinuation {
  const url = new URL(PROCESS_BATCH_PATH, appUrl).toString();
  return async (continuation) => {
    try {
      const response = await fetchImpl(url, {
        method: "POST",
        headers: { authorization: `Bearer ${cronSecret}`, "content-type": "application/json" },
        body: JSON.stringify({ continuation }),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: "error",
      });
      await response.body?.cancel();
      return response.ok
        ? { ok: true }
        : { ok: false, reason: `process-batch answered HTTP ${response.status}` };
    } catch (error) {
      return { ok: false, reason: describeError(error) };
    }
  };
}
