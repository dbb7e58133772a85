/** The delivery handler: a sent coaching message goes out by email and push. */
import { z } from "zod";
import { emailLocaleFor } from "@/core/email-strings";
import { describeError } from "@/core/errors";
import { recordDeliveries } from "@/core/processing-state-change";
import { listUnsubscribeHeaders, signUnsubscribeToken, unsubscribeUrl } from "@/core/unsubscribe";
import type { HandlerResult } from "../event-ports";
import type { StoredMessage } from "../processor-store-ports";
import type { EventHandlerDeps, HandlerContext } from "./handler-registry";

export const messageCreatedPayload = z.object({
  messageId: z.string().min(1),
  uid: z.string().min(1),
  slotId: z.string().min(1),
});

/**
 * How long after an attempt whose outcome is unknown a retry may still send: Resend keeps an
 * idempotency key 24 h, so within this a resend of an accepted email is deduplicated.
 */
export const EMAIL_IDEMPOTENCY_WINDOW_MS = 23 * 3_600_000;

/** Recorded on a message's email delivery when email is off for want of a key. */
export const EMAIL_NOT_CONFIGURED = "email is not configured (RESEND_API_KEY is unset)";

/** Delivers a sent coaching message: email (unless the user turned it off) and push. */
export async function deliverMessage(
  deps: EventHandlerDeps,
  payload: z.infer<typeof messageCreatedPayload>,
  { event, now }: HandlerContext,
): Promise<HandlerResult> {
  const { store } = deps;
  const message = await store.getMessage(payload.messageId);
  if (!message) return { ok: false, retriable: false, reason: `message ${payload.messageId} not found` };
  if (message.uid !== payload.uid)
    return { ok: false, retriable: false, reason: "message belongs to another user" };
  // Email and push only for a message that is sent and in the journal. New events are created
  // with that transition; an event written with the approved message by an older version can
  // arrive first. Retriable, not final: the slot's resume (the next run for the user) completes
  // it, and a retry then delivers; should the retries run out first, the dead letter can be requeued.
  if (message.status !== "sent" || message.journalEntryId === null) {
    return {
      ok: false,
      retriable: true,
      reason: `message ${message.id} is not sent yet (status ${message.status})`,
    };
  }
  // The engine's own delivery record is the final guard: Resend forgets idempotency keys after 24 h.
  const emailSettled = ["sent", "skipped", "suppressed"].includes(message.delivery.email.status);
  // A push still pending after a settled email is one a push service asked to retry (429, 5xx).
  const pushPending = message.pushNotificationText !== null && message.delivery.push.status === "pending";
  if (emailSettled && !pushPending) {
    return { ok: true, detail: `email already ${message.delivery.email.status}` };
  }
  const snapshot = await store.getUser(message.uid);
  if (!snapshot?.valid) {
    return { ok: false, retriable: false, reason: snapshot ? "user document is invalid" : "user not found" };
  }
  const user = snapshot.user;
  const unknownSince = message.delivery.email.outcomeUnknownSince ?? null;

  let email: StoredMessage["delivery"]["email"];
  /** Why Resend refused the email for good, when it did: the push still goes. */
  let emailRefused: string | null = null;
  if (emailSettled) {
    email = message.delivery.email;
  } else if (user.coachingConfig.emailNotifications === false) {
    email = { status: "skipped", providerId: null, error: null, attemptedAt: null };
  } else if (deps.mailer === null) {
    // Off, not broken: the message and its push stand; the reason says why no email went out.
    email = { status: "skipped", providerId: null, error: EMAIL_NOT_CONFIGURED, attemptedAt: now };
  } else if (unknownSince !== null && now - unknownSince >= EMAIL_IDEMPOTENCY_WINDOW_MS) {
    // An earlier attempt may have delivered it, and its idempotency key has expired at Resend:
    // sending could deliver it twice. Not retriable (a bulk requeue skips it): an operator checks.
    const reason = `email outcome unknown since ${new Date(unknownSince).toISOString()} and Resend's idempotency window has passed: not resent; needs an operator to check delivery`;
    await store.updateMessage(message.id, {
      delivery: {
        ...message.delivery,
        email: { ...message.delivery.email, status: "failed", error: reason },
      },
      updatedAt: now,
    });
    return { ok: false, retriable: false, reason };
  } else {
    // Signed for this user and this address: the link can turn off no one else's email.
    const unsubscribeLink = deps.unsubscribe
      ? unsubscribeUrl({
          pageUrl: deps.unsubscribe.pageUrl,
          token: signUnsubscribeToken({ secret: deps.unsubscribe.secret, uid: user.uid, email: user.email }),
        })
      : null;
    // The suppression list is read while the email renders (CPU-bound), so the check adds no wait.
    const [suppression, rendered] = await Promise.all([
      deps.suppressions.find(user.email),
      deps.renderEmail({
        displayName: user.displayName ?? null,
        messageContent: message.messageContent,
        pushNotificationText: message.pushNotificationText,
        journalEntryUrl: message.journalEntryId ? deps.links.journalEntryUrl(message.journalEntryId) : null,
        preferencesUrl: deps.links.preferencesUrl,
        unsubscribeUrl: unsubscribeLink,
        // The email's own words in the message's language; its date in the user's zone.
        language: emailLocaleFor({ messageLanguage: message.language, userLocale: user.locale }),
        writtenAt: message.createdAt,
        timeZone: user.timezone,
      }),
    ]);
    if (suppression) {
      // A hard bounce or a complaint: mailing the address again hurts the sender's reputation.
      email = {
        status: "suppressed",
        providerId: null,
        error: `the address is on the suppression list (${suppression.reason} at ${new Date(suppression.suppressedAt).toISOString()})`,
        attemptedAt: now,
      };
    } else {
      // The recipient is the user document's, never anything the model wrote.
      const sent = await deps.mailer.send({
        to: user.email,
        ...rendered,
        idempotencyKey: event.id,
        ...(unsubscribeLink && deps.unsubscribe
          ? { headers: listUnsubscribeHeaders({ url: unsubscribeLink, mailto: deps.unsubscribe.mailto }) }
          : {}),
      });
      if (!sent.ok) {
        const failed: StoredMessage["delivery"]["email"] = {
          status: "failed",
          providerId: null,
          error: sent.reason,
          attemptedAt: now,
          // The first unknown outcome counts: its key is the one that expires first.
          outcomeUnknownSince: unknownSince ?? (sent.outcomeUnknown ? now : null),
        };
        if (sent.retriable) {
          await store.updateMessage(message.id, {
            delivery: { ...message.delivery, email: failed },
            updatedAt: now,
          });
          return { ok: false, retriable: true, reason: sent.reason };
        }
        // Refused for good (an address Resend will not take): no retry sends it, so the push
        // goes now instead of never; the event still fails below, for an operator to see.
        emailRefused = sent.reason;
        email = failed;
      } else {
        email = { status: "sent", providerId: sent.id, error: null, attemptedAt: now };
      }
    }
  }

  let push: StoredMessage["delivery"]["push"] = message.delivery.push;
  if (message.pushNotificationText && push.status !== "sent") {
    const pushed = await deps.push.send({
      uid: user.uid,
      text: message.pushNotificationText,
      messageId: message.id,
    });
    if (!pushed.delivered && pushed.retriable) {
      // The email's outcome is kept; the retry sends the push only (subscriptions already
      // pushed to are claimed, so none gets it twice).
      await store.updateMessage(message.id, {
        delivery: {
          email,
          push: { status: "pending", text: message.pushNotificationText, reason: pushed.reason },
        },
        ...(email.providerId ? { emailProviderId: email.providerId } : {}),
        updatedAt: now,
      });
      await countDeliveries(deps, {
        uid: user.uid,
        email: !emailSettled && email.status === "sent",
        push: false,
        now,
      });
      return { ok: false, retriable: true, reason: `push: ${pushed.reason}` };
    }
    push = pushed.delivered
      ? { status: "sent", text: message.pushNotificationText, reason: null }
      : { status: "not_delivered", text: message.pushNotificationText, reason: pushed.reason };
  }
  await store.updateMessage(message.id, {
    delivery: { email, push },
    // Top-level, so Resend's webhooks find the message by the email's id.
    ...(email.providerId ? { emailProviderId: email.providerId } : {}),
    // Top-level, for the engagement figures' counts (an equality filter).
    ...(push.status === "sent" ? { pushDelivered: true } : {}),
    updatedAt: now,
  });
  await countDeliveries(deps, {
    uid: user.uid,
    email: !emailSettled && email.status === "sent",
    push: push.status === "sent" && message.delivery.push.status !== "sent",
    now,
  });
  if (emailRefused !== null) return { ok: false, retriable: false, reason: emailRefused };
  return { ok: true, detail: `email ${email.status}, push ${push.status}` };
}

/**
 * Counts on the user's processing state what this attempt sent for the first time: an email
 * counts when Resend accepted it and the message's delivery record, read unsettled at the start,
 * now says sent; a push when it is delivered. Written after that record, so a retry, a replay or
 * a crash before it (Resend deduplicates the resend by its idempotency key) never counts twice:
 * the next attempt finds the email settled and counts nothing. A crash between the record and
 * this write (or a failure of it) loses one count, never doubles one, except when a run outlives
 * its event lease mid-send and another run sends too: then both count (at least once). One merge
 * write, no read; never on the processor's path.
 */
async function countDeliveries(
  deps: EventHandlerDeps,
  { uid, email, push, now }: { uid: string; email: boolean; push: boolean; now: number },
): Promise<void> {
  const change = recordDeliveries({ email, push, now });
  if (!change) return;
  // Bookkeeping after the delivery is recorded: a failure here loses this count and never fails
  // (or retries) a delivery that went out.
  await deps.stateStore.updateState({ uid, change, now }).catch((error: unknown) => {
    deps.warn?.("delivery counters not recorded", { uid, error: describeError(error) });
  });
}
