import "server-only";
import webpush from "web-push";
import { describeError } from "@/core/errors";
import { arePushKeysUsable, isAllowedPushEndpoint, PUSH_TTL_SECONDS, pushTopicFor } from "@/core/push";
import type { PushTransport } from "@/pipeline/channel-ports";
import type { PushSubscriptionStore, StoredPushSubscription } from "@/pipeline/delivery-ports";

type PushOutcome = "sent" | "already" | "gone" | "refused" | "retry" | "failed";

/**
 * Web Push through the `web-push` library (RFC 8291 encryption, RFC 8292 VAPID), to every browser
 * the user registered. The library builds each request; it is sent with `fetch` and a timeout.
 *
 * Each push is claimed per subscription before it is sent, so a crash after the request, or a
 * retry, never pushes a message to a browser twice; the `Topic` header makes a push service
 * replace a push it still holds for the same message rather than stack a second. 404 and 410
 * (the browser unsubscribed) remove the subscription; 429, 5xx and timeouts give the claim back
 * and ask the outbox to retry. The endpoint is checked against the allowlist again before each
 * push, not only when it was registered: one stored under an origin since taken out of
 * PUSH_SERVICE_ORIGINS (or under an older, looser allowlist) is dropped, never POSTed to.
 */
export function createWebPushTransport({
  vapid,
  subscriptions,
  timeoutMs,
  extraOrigins,
}: {
  vapid: { publicKey: string; privateKey: string; subject: string };
  subscriptions: PushSubscriptionStore;
  timeoutMs: number;
  /** PUSH_SERVICE_ORIGINS: origins besides the browsers' push services (the local stand-in). */
  extraOrigins: readonly string[];
}): PushTransport {
  const pushTo = async (
    subscription: StoredPushSubscription,
    { text, messageId, now }: { text: string; messageId: string; now: number },
  ): Promise<{ outcome: PushOutcome; detail: string }> => {
    const drop = async (reason: string) => {
      await subscriptions.remove({ uid: subscription.uid, endpoint: subscription.endpoint });
      return { outcome: "refused" as const, detail: `${reason}: subscription removed` };
    };
    if (!isAllowedPushEndpoint(subscription.endpoint, extraOrigins))
      return drop("endpoint not on the push service allowlist");
    // Keys nothing can be encrypted to: no retry will ever send, and retrying would hold the
    // message's delivery in the outbox for a day. Checked here, not inferred from a throw below,
    // which could as well come from the engine's own VAPID keys (and must not drop every browser).
    if (!arePushKeysUsable(subscription.keys)) return drop("no push can be encrypted to its keys");
    let request: webpush.RequestDetails & { body: Buffer };
    try {
      request = webpush.generateRequestDetails(
        { endpoint: subscription.endpoint, keys: subscription.keys },
        text,
        { vapidDetails: vapid, TTL: PUSH_TTL_SECONDS, urgency: "normal", topic: pushTopicFor(messageId) },
      );
    } catch (error) {
      return { outcome: "failed", detail: describeError(error) };
    }
    const claim = { messageId, subscriptionId: subscription.id };
    if ((await subscriptions.claimPush({ ...claim, now })) === "taken")
      return { outcome: "already", detail: "pushed before" };
    let status: number;
    try {
      const response = await fetch(request.endpoint, {
        method: "POST",
        headers: request.headers,
        body: new Uint8Array(request.body),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: "error",
      });
      await response.body?.cancel();
      status = response.status;
    } catch (error) {
      await subscriptions.releasePush(claim);
      return { outcome: "retry", detail: describeError(error) };
    }
    if (status >= 200 && status < 300) return { outcome: "sent", detail: String(status) };
    if (status === 404 || status === 410) {
      await subscriptions.remove({ uid: subscription.uid, endpoint: subscription.endpoint });
      return { outcome: "gone", detail: `${status}: subscription removed` };
    }
    if (status === 429 || status >= 500) {
      await subscriptions.releasePush(claim);
      return { outcome: "retry", detail: String(status) };
    }
    return { outcome: "failed", detail: String(status) };
  };

  return {
    async send({ uid, text, messageId }) {
      const now = Date.now();
      const registered = await subscriptions.listForUser(uid);
      if (registered.length === 0) return { delivered: false, reason: "no push subscriptions" };
      const results = await Promise.all(
        registered.map((subscription) => pushTo(subscription, { text, messageId, now })),
      );
      const summary = results.map((result) => `${result.outcome} (${result.detail})`).join(", ");
      if (results.some((result) => result.outcome === "retry"))
        return { delivered: false, retriable: true, reason: `push services asked to retry: ${summary}` };
      if (results.some((result) => result.outcome === "sent" || result.outcome === "already"))
        return { delivered: true };
      return { delivered: false, reason: `no subscription took the push: ${summary}` };
    },
  };
}
