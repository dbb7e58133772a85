/**
 * Ports of the email delivery loop: the suppression list the outbox consults before each email,
 * and the store that Resend's webhooks and the one-click unsubscribe write through.
 */
import type { EmailEventKind } from "./processor-store-ports";

export type SuppressionReason = "bounce" | "complaint";

/** An address the outbox never emails again (until an admin lifts it). */
export interface Suppression {
  /** sha256 of the normalised address (core/email-address.ts). */
  id: string;
  /** Normalised (trimmed, lower-cased). */
  address: string;
  reason: SuppressionReason;
  /** When the latest bounce or complaint was recorded. */
  suppressedAt: number;
  /** Resend's bounce type and subtype ("Permanent/General"), for a bounce. */
  detail: string | null;
  /** Resend's id of the email that bounced or was complained about. */
  emailId: string | null;
  /** The user the email went to, when the engine knew the message. */
  uid: string | null;
}

export interface SuppressionList {
  /** The address's suppression, or null when it may be emailed. */
  find(address: string): Promise<Suppression | null>;
}

/** One verified webhook delivery (`svix-id`) and what it changes, written at once or not at all. */
export interface WebhookEffects {
  /** `svix-id`: the delivery's claim; a second delivery of it changes nothing. */
  deliveryId: string;
  eventType: string;
  receivedAt: number;
  /** The message whose `emailEvents` records the event. */
  messageEvent: {
    messageId: string;
    kind: EmailEventKind;
    firstAt: number;
    detail: string | null;
  } | null;
  suppression: Omit<Suppression, "id"> | null;
  /** A complaint turns email off for the users at the address. */
  emailOffForUids: string[];
}

export interface DeliveryFeedbackStore {
  /**
   * The message whose email Resend knows by `emailId`, or null. Its `uid` is null when the
   * document holds none that can name a user (edited by hand).
   */
  findMessageByEmailId(
    emailId: string,
  ): Promise<{ id: string; uid: string | null; emailEvents: Record<string, { firstAt: number }> } | null>;
  /** The uid of each user whose address is `address` (normalised comparison), at most a few. */
  findUidsByEmail(address: string): Promise<string[]>;
  /**
   * Claims the delivery id with `create()` and applies the effects in the same batch (the claim
   * first, so on the emulator too a duplicate writes nothing): "duplicate" when it was claimed.
   */
  applyWebhook(effects: WebhookEffects): Promise<"applied" | "duplicate">;
  /** The user's id, address and whether email is on; null when there is no such user. */
  getEmailRecipient(uid: string): Promise<{ uid: string; email: string; emailOn: boolean } | null>;
  /** Turns `coachingConfig.emailNotifications` off (one-click unsubscribe); nothing else. */
  turnEmailOff(input: { uid: string; now: number; source: "one_click" | "complaint" }): Promise<void>;
}

/** A browser's push subscription (the `PushSubscription` the journaling app registered). */
export interface StoredPushSubscription {
  /** `{uid}_{hash of the endpoint}` (core/push.ts). */
  id: string;
  uid: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
  createdAt: number;
  updatedAt: number;
}

export interface PushSubscriptionStore {
  /** The user's subscriptions, oldest first. */
  listForUser(uid: string): Promise<StoredPushSubscription[]>;
  /**
   * Stores (or refreshes) a subscription; past MAX_PUSH_SUBSCRIPTIONS_PER_USER the oldest others
   * are dropped. "created" for a new browser.
   */
  save(input: {
    uid: string;
    endpoint: string;
    keys: { p256dh: string; auth: string };
    now: number;
  }): Promise<{ id: string; created: boolean }>;
  /** False when there was none. */
  remove(input: { uid: string; endpoint: string }): Promise<boolean>;
  /**
   * Claims the one push of a message to a subscription with `create()`: "taken" when it was
   * claimed before (sent, or in flight when a run died), so no subscription gets a message twice.
   */
  claimPush(input: { messageId: string; subscriptionId: string; now: number }): Promise<"claimed" | "taken">;
  /** Gives a claim back after a push service asked to retry, so the retry may send. */
  releasePush(input: { messageId: string; subscriptionId: string }): Promise<void>;
}
