import "server-only";
import { Resend } from "resend";
import { describeError } from "@/core/errors";
import { toSingleLine } from "@/core/message-text";
import type { Mailer } from "@/pipeline/channel-ports";

/**
 * Email through the Resend SDK, at the base URL the configuration gives (`RESEND_BASE_URL`: the
 * local mail catcher in tests and `npm run dev`), handed to the client so the SDK never reads
 * the environment itself. The SDK returns `{ data, error }` instead of throwing; both are turned
 * into a result here.
 *
 * Each call is aborted after `timeoutMs` (the SDK hands the signal to `fetch`), a retriable
 * failure: a hanging Resend must not hold a drain until the platform kills it, burning the
 * attempt of every event in flight. A timed-out request may still have been delivered; the retry
 * carries the same idempotency key (the event id), which Resend honours for 24 h, and the
 * message's delivery record guards after that.
 */
export function createResendMailer({
  apiKey,
  baseUrl,
  from,
  timeoutMs,
}: {
  apiKey: string;
  /** Resend's API (`https://api.resend.com`) or a stand-in for it. */
  baseUrl: string;
  from: string;
  /** Below the time a drain has left after its budget (config checks it against the route's maxDuration). */
  timeoutMs: number;
}): Mailer {
  const resend = new Resend(apiKey, { baseUrl });
  return {
    async send({ to, subject, html, text, idempotencyKey, headers }) {
      const signal = AbortSignal.timeout(timeoutMs);
      const timedOut = {
        ok: false as const,
        retriable: true,
        reason: `Resend did not answer within ${timeoutMs} ms (timed out; the retry reuses the idempotency key)`,
        outcomeUnknown: true,
      };
      try {
        const { data, error } = await resend.emails.send(
          // Headers never carry CR/LF from anywhere: the subject is model-derived.
          {
            from,
            to: [to],
            subject: toSingleLine(subject, 150),
            html,
            text,
            ...(headers ? { headers } : {}),
          },
          { idempotencyKey, signal },
        );
        // The SDK reports an aborted fetch as a generic "unable to fetch" error.
        if (signal.aborted) return timedOut;
        if (error) {
          const status = (error as { statusCode?: number | null }).statusCode ?? null;
          // 409 concurrent_idempotent_requests: the same email is in flight; try again with the same key.
          const retriable =
            status === null ||
            status >= 500 ||
            status === 429 ||
            error.name === "concurrent_idempotent_requests";
          return {
            ok: false,
            retriable,
            reason: `Resend ${status ?? ""} ${error.name}: ${error.message}`.trim(),
            // No status: the request failed in transit and may have been accepted.
            ...(status === null ? { outcomeUnknown: true } : {}),
          };
        }
        if (!data?.id) return { ok: false, retriable: true, reason: "Resend answered without an email id" };
        return { ok: true, id: data.id };
      } catch (error) {
        if (signal.aborted) return timedOut;
        return { ok: false, retriable: true, reason: describeError(error), outcomeUnknown: true };
      }
    },
  };
}
