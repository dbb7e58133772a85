import "server-only";
import type { AlertWebhook } from "@/pipeline/alert-ports";

/**
 * A Slack-compatible incoming webhook: `POST {url}` with `{ "text": … }`. 2xx is posted; a
 * timeout, a network failure, 408, 429 or 5xx is worth retrying; any other 4xx (a revoked or
 * mistyped webhook) is not, nor is a redirect: it is not followed (the post, with its text, goes
 * to the configured host only), and a 3xx is a misconfigured URL. The answer's body is never read
 * (Slack's is "ok"; an endless one must not hold the outbox). The URL is a secret: no reason names it.
 */
export function createSlackWebhook({
  webhookUrl,
  timeoutMs,
  fetchImpl = fetch,
}: {
  webhookUrl: string;
  timeoutMs: number;
  fetchImpl?: typeof fetch;
}): AlertWebhook {
  return {
    async post(text) {
      let response: Response;
      try {
        response = await fetchImpl(webhookUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ text }),
          redirect: "manual",
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        const timedOut = error instanceof Error && error.name === "TimeoutError";
        return {
          ok: false,
          retriable: true,
          reason: timedOut
            ? `alert webhook: no answer within ${timeoutMs} ms`
            : "alert webhook: request failed",
        };
      }
      // Cancelled, not read: frees the connection whatever the answer's size.
      await response.body?.cancel().catch(() => undefined);
      if (response.ok) return { ok: true };
      if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
        return {
          ok: false,
          retriable: false,
          reason: `alert webhook redirected (${response.status}): not followed`,
        };
      }
      const retriable = response.status === 408 || response.status === 429 || response.status >= 500;
      return { ok: false, retriable, reason: `alert webhook answered ${response.status}` };
    },
  };
}
