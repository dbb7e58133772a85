/**
 * The channels a sent message goes out on: email (a mailer and the renderer of its body) and
 * push. Resend and Web Push sit behind these in `adapters/email/` and `adapters/push/`.
 */

export interface EmailToSend {
  to: string;
  subject: string;
  html: string;
  text: string;
  /** Same key, same email: the provider sends it once (Resend keeps keys for 24 h). */
  idempotencyKey: string;
  /** Extra headers (`List-Unsubscribe`); the values hold no CR/LF. */
  headers?: Record<string, string>;
}

export type EmailResult =
  | { ok: true; id: string }
  /** `outcomeUnknown`: the request may have been accepted (a timeout, a network error mid-call). */
  | { ok: false; retriable: boolean; reason: string; outcomeUnknown?: boolean };

export interface Mailer {
  send(email: EmailToSend): Promise<EmailResult>;
}

/** Push notifications; without a transport configured, delivery is recorded as not delivered. */
export interface PushTransport {
  send(notification: { uid: string; text: string; messageId: string }): Promise<
    | { delivered: true }
    /** `retriable`: a push service asked to try again (429, 5xx, no answer): the outbox retries. */
    | { delivered: false; reason: string; retriable?: boolean }
  >;
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

export interface CoachingEmailContent {
  displayName: string | null;
  messageContent: string;
  pushNotificationText: string | null;
  journalEntryUrl: string | null;
  preferencesUrl: string;
  /** The one-click unsubscribe page for this email; null when unsubscribe links are off. */
  unsubscribeUrl?: string | null;
  /** BCP 47 language of the email's own words (src/core/email-strings.ts); absent: English. */
  language?: string | null;
  /** When the message was written, shown in the user's language and `timeZone`; absent: no date line. */
  writtenAt?: number | null;
  /** IANA zone for `writtenAt`, the user's `timezone`. */
  timeZone?: string | null;
}

export type EmailRenderer = (content: CoachingEmailContent) => Promise<RenderedEmail>;
