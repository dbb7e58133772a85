/**
 * The channels a message goes out on: email through Resend (with one-click unsubscribe and the
 * bounce webhook) and Web Push. Each is off, not broken, without its secret: its capability is
 * null and the deliveries record why nothing was sent.
 */
import { z } from "zod";
import { optionalText, positiveInt, withoutTrailingSlash } from "./fields";

/** Resend's API, when RESEND_BASE_URL does not point elsewhere (the mail catcher in dev and tests). */
export const RESEND_DEFAULT_BASE_URL = "https://api.resend.com";

/** The one-click unsubscribe page and endpoint (src/app/unsubscribe/route.ts), carried in `List-Unsubscribe`. */
const UNSUBSCRIBE_PATH = "/unsubscribe";

export const deliveryEnv = z.object({
  RESEND_API_KEY: optionalText,
  RESEND_BASE_URL: optionalText.pipe(z.url().optional()),
  /** Each Resend call is aborted after this (a retriable failure); see `eventTimingProblems`. */
  RESEND_TIMEOUT_MS: positiveInt(10_000),
  EMAIL_FROM: z.string().min(3).default("Coaching <coach@example.com>"),
  /**
   * Signs the one-click unsubscribe links (`List-Unsubscribe`, the email's footer). Unset: no
   * unsubscribe header or link is sent and the unsubscribe URL answers 404 (off, not broken).
   */
  UNSUBSCRIBE_SECRET: optionalText.pipe(
    z.string().min(32, "must be at least 32 characters (e.g. `openssl rand -base64 32`)").optional(),
  ),
  /** A mailbox for `mailto:` unsubscribe requests, added to `List-Unsubscribe` when set. */
  UNSUBSCRIBE_MAILTO: optionalText.pipe(z.email().optional()),
  /** The signing secret of the Resend webhook (`whsec_…`); unset, the webhook route answers 404. */
  RESEND_WEBHOOK_SECRET: optionalText.pipe(
    z
      .string()
      .startsWith("whsec_", "must be the signing secret Resend shows (whsec_…)")
      // The svix library decodes the rest as padded base64 and throws on anything else: a
      // truncated paste would otherwise make every webhook delivery a 500 naming nothing.
      .regex(
        /^whsec_(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$/,
        "must be whsec_ followed by the base64 key Resend shows, copied whole",
      )
      .optional(),
  ),
  JOURNAL_APP_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),

  /**
   * Web Push (VAPID, RFC 8292): the key pair (`npx web-push generate-vapid-keys`) and a contact
   * (`mailto:` or `https:`). All three or none; unset, push is off (recorded as not delivered).
   */
  VAPID_PUBLIC_KEY: optionalText.pipe(
    z
      .string()
      .refine(
        (value) => Buffer.from(value, "base64url").length === 65,
        "must be a P-256 public key, base64url (65 bytes)",
      )
      .optional(),
  ),
  VAPID_PRIVATE_KEY: optionalText.pipe(
    z
      .string()
      .refine(
        (value) => Buffer.from(value, "base64url").length === 32,
        "must be a P-256 private key, base64url (32 bytes)",
      )
      .optional(),
  ),
  VAPID_SUBJECT: optionalText.pipe(
    z
      .string()
      .regex(/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/, "must be a mailto: address or an https: URL")
      .optional(),
  ),
  /** Each push request is aborted after this (a retriable failure); see `eventTimingProblems`. */
  PUSH_TIMEOUT_MS: positiveInt(5_000),
  /**
   * Origins besides the browsers' push services that subscriptions may point at, comma-separated
   * (the local push service of `npm run dev` and tests). Never needed in production.
   */
  PUSH_SERVICE_ORIGINS: optionalText.pipe(
    z
      .string()
      .transform((value) =>
        value
          .split(",")
          .map((origin) => origin.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.url({ protocol: /^https?$/ }).transform((origin) => new URL(origin).origin)))
      .optional(),
  ),
});

type DeliveryEnv = z.output<typeof deliveryEnv>;

/** Half a key pair would leave push silently off: say which part is missing. */
export function vapidProblem(env: DeliveryEnv): string | null {
  const parts = [env.VAPID_PUBLIC_KEY, env.VAPID_PRIVATE_KEY, env.VAPID_SUBJECT].filter(Boolean).length;
  return parts === 0 || parts === 3
    ? null
    : "VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT are set together or not at all";
}

/** The channels' part of the configuration; `appUrl` is where the unsubscribe page lives. */
export function deliverySettings(env: DeliveryEnv, { appUrl }: { appUrl: string }) {
  const journalAppUrl = withoutTrailingSlash(env.JOURNAL_APP_URL ?? appUrl);
  return {
    /**
     * Sending email through Resend; null without RESEND_API_KEY: email is off, not broken
     * (deliveries record it as skipped, the events health says `not_configured`).
     */
    email: env.RESEND_API_KEY
      ? {
          apiKey: env.RESEND_API_KEY,
          /** The Resend API's base URL, handed to the SDK (never read by it from the environment). */
          baseUrl: withoutTrailingSlash(env.RESEND_BASE_URL ?? RESEND_DEFAULT_BASE_URL),
          from: env.EMAIL_FROM,
        }
      : null,
    /** One-click unsubscribe; null without UNSUBSCRIBE_SECRET: no link or header, the page answers 404. */
    unsubscribe: env.UNSUBSCRIBE_SECRET
      ? {
          secret: env.UNSUBSCRIBE_SECRET,
          pageUrl: `${appUrl}${UNSUBSCRIBE_PATH}`,
          mailto: env.UNSUBSCRIBE_MAILTO ?? null,
        }
      : null,
    /** Resend's bounce and complaint webhook; null without RESEND_WEBHOOK_SECRET: the route answers 404. */
    resendWebhook: env.RESEND_WEBHOOK_SECRET ? { secret: env.RESEND_WEBHOOK_SECRET } : null,
    /** Where the journaling app (JOURNAL_APP_URL, else APP_URL) shows what an email links to. */
    journalLinks: {
      journalEntryUrl: (entryId: string) => `${journalAppUrl}/journal/${encodeURIComponent(entryId)}`,
      preferencesUrl: `${journalAppUrl}/settings/notifications`,
    },
    /** Web Push; null without the VAPID keys: push is off (recorded as not delivered, with the reason). */
    push:
      env.VAPID_PUBLIC_KEY && env.VAPID_PRIVATE_KEY && env.VAPID_SUBJECT
        ? {
            vapid: {
              publicKey: env.VAPID_PUBLIC_KEY,
              privateKey: env.VAPID_PRIVATE_KEY,
              subject: env.VAPID_SUBJECT,
            },
            timeoutMs: env.PUSH_TIMEOUT_MS,
          }
        : null,
    /**
     * Origins besides the browsers' push services that subscriptions may point at; read when a
     * subscription is registered (also while push is off) and when one is sent to.
     */
    pushServiceOrigins: env.PUSH_SERVICE_ORIGINS ?? [],
  };
}
