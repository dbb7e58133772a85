import "server-only";
import { getDb } from "@/adapters/firestore/client";
import { COLLECTIONS } from "@/adapters/firestore/collections";
import { firestoreCall } from "@/adapters/firestore/errors";
import { createFirestorePushSubscriptionStore } from "@/adapters/firestore/push-subscription-store";
import type { AppConfig } from "@/config";
import { AppError } from "@/core/errors";
import { isAllowedPushEndpoint } from "@/core/push";
import { logger } from "@/logger";

async function requireUser(config: AppConfig, uid: string): Promise<void> {
  const snapshot = await firestoreCall("read user", () =>
    getDb(config).collection(COLLECTIONS.users).doc(uid).get(),
  );
  if (!snapshot.exists) throw new AppError("not_found:api", `user ${uid} not found`);
}

/**
 * Registers (or refreshes) a browser's push subscription for the user. The endpoint must be a
 * browser push service's (the engine POSTs to it): anything else is a 400, nothing written.
 */
export async function registerPushSubscription(
  config: AppConfig,
  input: { uid: string; endpoint: string; keys: { p256dh: string; auth: string }; now: number },
): Promise<{ id: string; created: boolean }> {
  if (!isAllowedPushEndpoint(input.endpoint, config.pushServiceOrigins))
    throw new AppError("bad_request:api", "invalid request body: endpoint: not a known push service");
  await requireUser(config, input.uid);
  const saved = await createFirestorePushSubscriptionStore(getDb(config)).save(input);
  logger.info("push subscription saved", {
    uid: input.uid,
    subscriptionId: saved.id,
    created: saved.created,
  });
  return saved;
}

/** Removes a browser's push subscription; `removed: false` when there was none. */
export async function removePushSubscription(
  config: AppConfig,
  input: { uid: string; endpoint: string },
): Promise<{ removed: boolean }> {
  await requireUser(config, input.uid);
  return { removed: await createFirestorePushSubscriptionStore(getDb(config)).remove(input) };
}
