import "server-only";
import { Webhook, WebhookVerificationError } from "svix";
import { getDb } from "@/adapters/firestore/client";
import { createFirestoreDeliveryFeedbackStore } from "@/adapters/firestore/delivery-feedback-store";
import {
  createFirestoreSuppressionList,
  liftSuppression,
  listSuppressions,
} from "@/adapters/firestore/suppression-store";
import type { AppConfig } from "@/config";
import { AppError } from "@/core/errors";
import { logger } from "@/logger";
import type { Suppression } from "@/pipeline/delivery-ports";
import {
  applyResendWebhook,
  type ResendWebhookOutcome,
  resendWebhookSchema,
} from "@/pipeline/resend-webhooks";
import { checkUnsubscribeLink, type UnsubscribeLinkCheck, unsubscribeWithLink } from "@/pipeline/unsubscribe";

/** A `svix-id` ("msg_…") that is also a valid Firestore document id. */
const DELIVERY_ID_PATTERN = /^[A-Za-z0-9_-]{1,200}$/;

function requireUnsubscribeSecret(config: AppConfig): string {
  // Off, not broken: without UNSUBSCRIBE_SECRET no email carries a link, so none can arrive here.
  if (!config.unsubscribe) throw new AppError("not_found:api", "unsubscribe links are not enabled");
  return config.unsubscribe.secret;
}

/** Checks an unsubscribe link without writing anything (GET: mail scanners follow links). */
export function checkUnsubscribe(config: AppConfig, token: string): Promise<UnsubscribeLinkCheck> {
  const secret = requireUnsubscribeSecret(config);
  return checkUnsubscribeLink({ store: createFirestoreDeliveryFeedbackStore(getDb(config)), secret, token });
}

/** The one-click unsubscribe: turns the link's user's email off (400 for a link that is not valid). */
export async function unsubscribe(
  config: AppConfig,
  { token, now }: { token: string; now: number },
): Promise<{ alreadyOff: boolean }> {
  const secret = requireUnsubscribeSecret(config);
  const result = await unsubscribeWithLink({
    store: createFirestoreDeliveryFeedbackStore(getDb(config)),
    secret,
    token,
    now,
  });
  if (!result.valid) throw new AppError("bad_request:api", "this unsubscribe link is not valid");
  logger.info("email turned off by one-click unsubscribe", { alreadyOff: result.alreadyOff });
  return { alreadyOff: result.alreadyOff };
}

/**
 * A Resend webhook delivery: the Svix signature checked by the `svix` library (which also refuses
 * a timestamp more than 5 minutes away), then applied once per `svix-id`. 401 for a bad
 * signature or a stale timestamp, with nothing written.
 */
export async function receiveResendWebhook(
  config: AppConfig,
  { body, headers, now }: { body: string; headers: Headers; now: number },
): Promise<ResendWebhookOutcome> {
  if (!config.resendWebhook)
    throw new AppError("not_found:api", "the Resend webhook is not enabled (RESEND_WEBHOOK_SECRET)");
  const { secret } = config.resendWebhook;
  const svixHeaders = {
    "svix-id": headers.get("svix-id") ?? "",
    "svix-timestamp": headers.get("svix-timestamp") ?? "",
    "svix-signature": headers.get("svix-signature") ?? "",
  };
  try {
    new Webhook(secret).verify(body, svixHeaders);
  } catch (error) {
    if (error instanceof WebhookVerificationError)
      throw new AppError("unauthorized:api", "invalid webhook signature or timestamp");
    throw error;
  }
  const deliveryId = svixHeaders["svix-id"];
  if (!DELIVERY_ID_PATTERN.test(deliveryId)) throw new AppError("bad_request:api", "invalid svix-id");
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new AppError("bad_request:api", "webhook body must be JSON");
  }
  const payload = resendWebhookSchema.safeParse(json);
  if (!payload.success) throw new AppError("bad_request:api", "webhook body is not a Resend event");
  const outcome = await applyResendWebhook({
    store: createFirestoreDeliveryFeedbackStore(getDb(config)),
    deliveryId,
    payload: payload.data,
    now,
  });
  logger.info("resend webhook", { deliveryId, type: payload.data.type, ...outcome });
  return outcome;
}

/** The latest suppressions, for the admin page. */
export function suppressionsOverview(
  config: AppConfig,
  { limit = 200 }: { limit?: number } = {},
): Promise<Suppression[]> {
  return listSuppressions(getDb(config), { limit });
}

/**
 * One address's suppression (normalised as the list compares), wherever it is in the list: the
 * page shows only the latest, and a large sender's list runs to thousands.
 */
export function findEmailSuppression(config: AppConfig, address: string): Promise<Suppression | null> {
  return createFirestoreSuppressionList(getDb(config)).find(address);
}

/** Lifts a suppression (an admin action): the address may be emailed again. */
export async function liftEmailSuppression(config: AppConfig, id: string): Promise<boolean> {
  const lifted = await liftSuppression(getDb(config), id);
  if (lifted) logger.info("email suppression lifted by an admin", { suppressionId: id });
  return lifted;
}
