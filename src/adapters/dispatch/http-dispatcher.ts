import "server-only";
import { describeError } from "@/core/errors";
import type { ChainContinuer, Dispatcher } from "@/pipeline/ports";

export const PROCESSOR_PATH = "/api/coaching/generateCoachingMessage/processor";

/**
 * Calls the processor route over HTTP, one call per user. The base URL is configuration
 * (`APP_URL` or Vercel's production URL), never the incoming request's Host or forwarded
 * headers, so a forged header cannot redirect the fan-out and its bearer secret elsewhere.
 * A call ends at its own timeout or when the job's signal aborts (the scheduler step's
 * deadline), whichever comes first.
 */
export function createHttpDispatcher({
  appUrl,
  cronSecret,
  timeoutMs,
  fetchImpl = fetch,
}: {
  appUrl: string;
  cronSecret: string;
  timeoutMs: number;
  fetchImpl?: typeof fetch;
}): Dispatcher {
  const url = new URL(PROCESSOR_PATH, appUrl).toString();
  return {
    async dispatch({ userId, runId, signal }) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const callSignal = signal ? AbortSignal.any([timeout, signal]) : timeout;
      try {
        const response = await fetchImpl(url, {
          method: "POST",
          headers: {
            authorization: `Bearer ${cronSecret}`,
            "content-type": "application/json",
            "x-coaching-run-id": runId,
          },
          body: JSON.stringify({ userId }),
          signal: callSignal,
          redirect: "error",
        });
        // The body is not needed; release the connection.
        await response.body?.cancel();
        if (response.ok) return { ok: true, status: response.status };
        return {
          ok: false,
          retriable: response.status >= 500 || response.status === 429,
          reason: `processor answered HTTP ${response.status}`,
        };
      } catch (error) {
        // Cut off by its timeout or the step's deadline: sent, perhaps, but never answered.
        return { ok: false, retriable: true, reason: describeError(error), unconfirmed: callSignal.aborted };
      }
    },
  };
}

export const SCHEDULER_PATH = "/api/coaching/generateCoachingMessage/scheduler";

/**
 * Starts the next step of a scheduler chain by calling the scheduler route itself, through the
 * same bearer-authenticated path as Vercel's cron, at the configured base URL (never the
 * request's Host). The route claims the step and answers 202 at once, running it after the
 * response, so the calling step never waits for the next one.
 */
export function createHttpChainContinuer({
  appUrl,
  cronSecret,
  timeoutMs,
  fetchImpl = fetch,
}: {
  appUrl: string;
  cronSecret: string;
  timeoutMs: number;
  fetchImpl?: typeof fetch;
}): ChainContinuer {
  const url = new URL(SCHEDULER_PATH, appUrl).toString();
  return {
    async continueChain(continuation) {
      try {
        const response = await fetchImpl(url, {
          method: "POST",
          headers: { authorization: `Bearer ${cronSecret}`, "content-type": "application/json" },
          body: JSON.stringify({ continuation }),
          signal: AbortSignal.timeout(timeoutMs),
          redirect: "error",
        });
        await response.body?.cancel();
        if (response.ok) return { ok: true, status: response.status };
        return {
          ok: false,
          retriable: response.status >= 500 || response.status === 429,
          reason: `scheduler answered HTTP ${response.status}`,
        };
      } catch (error) {
        return { ok: false, retriable: true, reason: describeError(error) };
      }
    },
  };
}
