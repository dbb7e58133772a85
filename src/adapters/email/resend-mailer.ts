import "server-only";
import { Resend } from "resend";
import { describeError } from "@/core/errors";
import { toSingleLine } from "@/core/message-text";
import type { Mailer } from "@/pipeline/processor-ports";

/**
 * Email through the Resend SDK (which honours `RESEND_BASE_URL`, so tests and `npm run dev`
 * point it at the local mail catcher). The SDK returns `{ data, error }` instead of throwing;
 * both are turned into a result here.
 */
export function createResendMailer({ apiKey, from }: { apiKey: string; from: string }): Mailer {
  const resend = new Resend(apiKey);
  return {
    async send({ to, subject, html, text, idempotencyKey }) {
      try {
        const { data, error } = await resend.emails.send(
          // Headers never carry CR/LF from anywhere: the subject is model-derived.
          { from, to: [to], subject: toSingleLine(subject, 150), html, text },
          { idempotencyKey },
        );
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
          };
        }
        if (!data?.id) return { ok: false, retriable: true, reason: "Resend answered without an email id" };
        return { ok: true, id: data.id };
      } catch (error) {
        return { ok: false, retriable: true, reason: describeError(error) };
      }
    },
  };
}
