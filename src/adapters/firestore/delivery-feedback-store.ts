import "server-only";
import { FieldValue, type Firestore, Timestamp } from "firebase-admin/firestore";
import { isDocumentId } from "@/core/document-id";
import { normaliseEmailAddress, suppressionIdFor } from "@/core/email-address";
import { retentionExpiry, TTL_FIELD, ttlRetentionRule } from "@/core/retention";
import type { DeliveryFeedbackStore } from "@/pipeline/delivery-ports";
import type { EmailEventKind } from "@/pipeline/processor-store-ports";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";

const WEBHOOK_DELIVERY_RETENTION = ttlRetentionRule("resendWebhookDeliveries");

/** The event kinds the engagement figures count, and the top-level flag each sets on the message. */
const ENGAGEMENT_FLAGS: Partial<Record<EmailEventKind, string>> = {
  delivered: "emailDelivered",
  opened: "emailOpened",
  clicked: "emailClicked",
};

/** `emailDeliveredCount`, `emailOpenedCount`, ...: how many deliveries of each event kind arrived. */
export function emailEventCountField(kind: EmailEventKind): string {
  const words = kind.split("_").map((word) => word.charAt(0).toUpperCase() + word.slice(1));
  return `email${words.join("")}Count`;
}

/**
 * What Resend's webhooks and the one-click unsubscribe write: the webhook delivery claims, the
 * suppression list, the email events on a message, and a user's email opt-out.
 */
export function createFirestoreDeliveryFeedbackStore(db: Firestore): DeliveryFeedbackStore {
  const messages = db.collection(COLLECTIONS.coachingMessages);
  const users = db.collection(COLLECTIONS.users);
  const deliveries = db.collection(COLLECTIONS.resendWebhookDeliveries);
  const suppressions = db.collection(COLLECTIONS.emailSuppressions);

  return {
    findMessageByEmailId: (emailId) =>
      firestoreCall("find message by email id", async () => {
        // A top-level field: the emulator cannot filter on `delivery.email.providerId`.
        const page = await messages.where("emailProviderId", "==", emailId).limit(1).get();
        const found = page.docs[0];
        if (!found) return null;
        const uid = found.get("uid");
        const events = found.get("emailEvents");
        return {
          id: found.id,
          uid: typeof uid === "string" && isDocumentId(uid) ? uid : null,
          emailEvents: events && typeof events === "object" ? events : {},
        };
      }),

    findUidsByEmail: (address) =>
      firestoreCall("find users by email", async () => {
        const candidates = [...new Set([address.trim(), normaliseEmailAddress(address)])];
        const page = await users.where("email", "in", candidates).limit(10).get();
        return page.docs.map((document) => document.id);
      }),

    async applyWebhook(effects) {
      const outcome = await createOnce("apply webhook delivery", async () => {
        // The claim's create() first: a duplicate delivery fails the batch before any other write
        // (real Firestore applies none of it; the emulator stops at the failing write).
        const batch = db.batch();
        batch.create(deliveries.doc(effects.deliveryId), {
          deliveryId: effects.deliveryId,
          eventType: effects.eventType,
          receivedAt: effects.receivedAt,
          [TTL_FIELD]: Timestamp.fromMillis(retentionExpiry(WEBHOOK_DELIVERY_RETENTION, effects.receivedAt)),
        });
        if (effects.messageEvent) {
          const { messageId, kind, firstAt, detail } = effects.messageEvent;
          // Field paths: only this event's entry changes, whatever else the message holds. The
          // count is a top-level field: the emulator cannot increment a field inside a map.
          batch.update(messages.doc(messageId), {
            [`emailEvents.${kind}.firstAt`]: firstAt,
            [`emailEvents.${kind}.lastAt`]: effects.receivedAt,
            [`emailEvents.${kind}.detail`]: detail,
            [emailEventCountField(kind)]: FieldValue.increment(1),
            // Top-level flags the engagement figures count by (equality filters, composite indexes).
            ...(ENGAGEMENT_FLAGS[kind] ? { [ENGAGEMENT_FLAGS[kind]]: true } : {}),
          });
        }
        if (effects.suppression) {
          batch.set(suppressions.doc(suppressionIdFor(effects.suppression.address)), effects.suppression);
        }
        for (const uid of effects.emailOffForUids) {
          batch.update(users.doc(uid), {
            "coachingConfig.emailNotifications": false,
            emailOptOut: { at: effects.receivedAt, source: "complaint" },
          });
        }
        await batch.commit();
      });
      return outcome === "created" ? "applied" : "duplicate";
    },

    getEmailRecipient: (uid) =>
      firestoreCall("read email recipient", async () => {
        const snapshot = await users.doc(uid).get();
        const email = snapshot.get("email");
        if (!snapshot.exists || typeof email !== "string") return null;
        return { uid, email, emailOn: snapshot.get("coachingConfig.emailNotifications") !== false };
      }),

    turnEmailOff: ({ uid, now, source }) =>
      firestoreCall("turn email off", async () => {
        // Only the opt-out: the rest of `coachingConfig` is the journaling app's.
        await users.doc(uid).update({
          "coachingConfig.emailNotifications": false,
          emailOptOut: { at: now, source },
        });
      }),
  };
}
