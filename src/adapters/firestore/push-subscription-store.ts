import "server-only";
import { type DocumentData, type Firestore, Timestamp } from "firebase-admin/firestore";
import { MAX_PUSH_SUBSCRIPTIONS_PER_USER, pushSubscriptionId } from "@/core/push";
import { retentionExpiry, TTL_FIELD, ttlRetentionRule } from "@/core/retention";
import type { PushSubscriptionStore, StoredPushSubscription } from "@/pipeline/delivery-ports";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";

const PUSH_DELIVERY_RETENTION = ttlRetentionRule("pushDeliveries");

/**
 * A stored subscription, or null for a document no registration wrote (junk by hand): skipped,
 * so it can neither crash a delivery nor be POSTed to.
 */
function subscriptionFrom(id: string, document: DocumentData): StoredPushSubscription | null {
  const { uid, endpoint, keys, createdAt, updatedAt } = document;
  if (typeof uid !== "string" || typeof endpoint !== "string") return null;
  if (typeof keys?.p256dh !== "string" || typeof keys?.auth !== "string") return null;
  const created = typeof createdAt === "number" ? createdAt : 0;
  return {
    id,
    uid,
    endpoint,
    keys: { p256dh: keys.p256dh, auth: keys.auth },
    createdAt: created,
    updatedAt: typeof updatedAt === "number" ? updatedAt : created,
  };
}

/** Users' browser push subscriptions and the per-subscription claims of each message's push. */
export function createFirestorePushSubscriptionStore(db: Firestore): PushSubscriptionStore {
  const subscriptions = db.collection(COLLECTIONS.pushSubscriptions);
  const deliveries = db.collection(COLLECTIONS.pushDeliveries);

  const listForUser = (uid: string) =>
    firestoreCall("list push subscriptions", async () => {
      // An equality on a top-level field, sorted here: no composite index for at most ~10 documents.
      const page = await subscriptions
        .where("uid", "==", uid)
        .limit(MAX_PUSH_SUBSCRIPTIONS_PER_USER * 2)
        .get();
      return page.docs
        .flatMap((document) => {
          const subscription = subscriptionFrom(document.id, document.data());
          return subscription ? [subscription] : [];
        })
        .sort((left, right) => left.createdAt - right.createdAt);
    });

  return {
    listForUser,

    async save({ uid, endpoint, keys, now }) {
      const id = pushSubscriptionId(uid, endpoint);
      const existing = await firestoreCall("read push subscription", () => subscriptions.doc(id).get());
      const createdAt = (existing.get("createdAt") as number | undefined) ?? now;
      await firestoreCall("save push subscription", () =>
        subscriptions.doc(id).set({ id, uid, endpoint, keys, createdAt, updatedAt: now }),
      );
      const others = (await listForUser(uid)).filter((subscription) => subscription.id !== id);
      const excess = others.length + 1 - MAX_PUSH_SUBSCRIPTIONS_PER_USER;
      if (excess > 0) {
        // The oldest browsers go: a browser that re-registers keeps its place.
        const batch = db.batch();
        for (const stale of others.slice(0, excess)) batch.delete(subscriptions.doc(stale.id));
        await firestoreCall("drop old push subscriptions", () => batch.commit());
      }
      return { id, created: !existing.exists };
    },

    remove: ({ uid, endpoint }) =>
      firestoreCall("remove push subscription", async () => {
        const reference = subscriptions.doc(pushSubscriptionId(uid, endpoint));
        if (!(await reference.get()).exists) return false;
        await reference.delete();
        return true;
      }),

    async claimPush({ messageId, subscriptionId, now }) {
      const outcome = await createOnce("claim push", () =>
        deliveries.doc(`${messageId}_${subscriptionId}`).create({
          messageId,
          subscriptionId,
          claimedAt: now,
          [TTL_FIELD]: Timestamp.fromMillis(retentionExpiry(PUSH_DELIVERY_RETENTION, now)),
        }),
      );
      return outcome === "created" ? "claimed" : "taken";
    },

    releasePush: ({ messageId, subscriptionId }) =>
      firestoreCall("release push claim", async () => {
        await deliveries.doc(`${messageId}_${subscriptionId}`).delete();
      }),
  };
}
