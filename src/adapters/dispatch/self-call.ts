import "server-only";
import { describeError } from "@/core/errors";

/** Options shared by every call the app makes to its own routes. */
export interface SelfCallTarget {
  /** The configured base URL (`APP_URL` or Vercel's production URL), never a request's Host. */
  appUrl: string;
  cronSecret: string;
  timeoutMs: number;
  fetchImpl?: typeof fetch;
}

export type SelfCallResult =
  | { ok: true; status: number }
  | { ok: false; status: number; reason: string; retriable: boolean }
  | { ok: false; status: null; reason: string; retriable: true; aborted: boolean };

/**
 * POSTs JSON to one of the app's own routes with the cron's bearer secret. The base URL is
 * configuration, so a forged Host or forwarded header cannot send the secret elsewhere; redirects
 * are refused for the same reason. The body of the answer is not read (the connection is
 * released). A call ends at its own timeout or when `signal` aborts, whichever comes first;
 * `aborted` then says it may have been received without an answer.
 */
export function createSelfCall(
  /** The route, as named in failure reasons ("processor answered HTTP 503"). */
  name: string,
  path: string,
  { appUrl, cronSecret, timeoutMs, fetchImpl = fetch }: SelfCallTarget,
) {
  const url = new URL(path, appUrl).toString();
  return async (
    body: unknown,
    { signal, headers = {} }: { signal?: AbortSignal; headers?: Record<string, string> } = {},
  ): Promise<SelfCallResult> => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const callSignal = signal ? AbortSignal.any([timeout, signal]) : timeout;
    try {
      const response = await fetchImpl(url, {
        method: "POST",
        headers: { authorization: `Bearer ${cronSecret}`, "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
        signal: callSignal,
        redirect: "error",
      });
      await response.body?.cancel();
      if (response.ok) return { ok: true, status: response.status };
      return {
        ok: false,
        status: response.status,
        reason: `${name} answered HTTP ${response.status}`,
        retriable: response.status >= 500 || response.status === 429,
      };
    } catch (error) {
      return {
        ok: false,
        status: null,
        reason: describeError(error),
        retriable: true,
        aborted: callSignal.aborted,
      };
    }
  };
}
