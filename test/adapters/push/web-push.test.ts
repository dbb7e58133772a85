/**
 * Web Push from the outbox through the real `web-push` library to the local push service, which
 * decrypts what it receives (RFC 8291) with the keys of the subscriptions it issued.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import webpush from "web-push";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { createFirestorePushSubscriptionStore } from "@/adapters/firestore/push-subscription-store";
import { createWebPushTransport } from "@/adapters/push/web-push-transport";
import { MAX_PUSH_SUBSCRIPTIONS_PER_USER, PUSH_TTL_SECONDS, pushTopicFor } from "@/core/push";
import type { PushTransport } from "@/pipeline/channel-ports";
import type { PushSubscriptionStore } from "@/pipeline/delivery-ports";
import { type EventProcessorDeps, processEvent } from "@/pipeline/outbox/process-event";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import { type PushService, startPushService } from "../../../scripts/local-stack/push-service";
import { putDocuments } from "../../support/firestore";
import { dyingAtMessageWrite, untilDied } from "../../support/process-death";
import { realEventDeps } from "../../support/processor";
import { putSentMessage } from "../../support/sent-message";
import { localServicesForFile } from "../../support/stack";

const NOW = Date.now();
const vapid = { ...webpush.generateVAPIDKeys(), subject: "mailto:ops@coach.example" };

const services = localServicesForFile();
let pushService: PushService;
let db: Firestore;
let subscriptions: PushSubscriptionStore;
let pushTransport: PushTransport;
let events: EventProcessorDeps;

beforeAll(async () => {
  pushService = await startPushService();
});

afterAll(async () => {
  await pushService?.stop();
});

beforeEach(() => {
  ({ db } = services.handle.freshProject("webpush"));
  subscriptions = createFirestorePushSubscriptionStore(db);
  pushTransport = createWebPushTransport({
    vapid,
    subscriptions,
    timeoutMs: 5_000,
    extraOrigins: [pushService.url],
  });
  events = realEventDeps({ db, catcher: services.catcher, push: pushTransport });
  services.catcher.emails.length = 0;
  pushService.received.length = 0;
  pushService.attempts.length = 0;
});

async function sentMessage(uid: string) {
  await putDocuments(db, "users", [
    [
      uid,
      {
        email: `${uid}@example.com`,
        timezone: "UTC",
        coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
      },
    ],
  ]);
  return putSentMessage(db, { uid, slot: "1", at: NOW, pushNotificationText: `A note for ${uid}` });
}

/** Browsers of the user, subscribed at the push service and registered with the engine. */
async function subscribe(uid: string, count: number) {
  const issued = [];
  for (let index = 0; index < count; index += 1) {
    const subscription = pushService.subscribe();
    await subscriptions.save({ uid, ...subscription, now: NOW + index });
    issued.push({ ...subscription, id: subscription.endpoint.split("/").at(-1) ?? "" });
  }
  return issued;
}

async function messageOf(messageId: string): Promise<StoredMessage> {
  return (await db.doc(`coachingMessages/${messageId}`).get()).data() as StoredMessage;
}

describe("Web Push from the outbox", () => {
  it("each browser gets the message's push text, decrypted, with a TTL, an urgency and the message's topic", async () => {
    const { messageId, eventId } = await sentMessage("ada");
    const browsers = await subscribe("ada", 2);
    expect((await processEvent({ deps: events, eventId, now: NOW })).result).toBe("processed");
    expect(pushService.received.map((push) => push.subscriptionId).sort()).toEqual(
      browsers.map((browser) => browser.id).sort(),
    );
    for (const push of pushService.received)
      expect(push).toMatchObject({
        payload: "A note for ada",
        ttl: PUSH_TTL_SECONDS,
        urgency: "normal",
        topic: pushTopicFor(messageId),
        vapidKey: vapid.publicKey,
      });
    expect((await messageOf(messageId)).delivery.push).toMatchObject({ status: "sent" });
    expect(services.catcher.emails).toHaveLength(1);
  });

  it("a 410 removes the subscription; the other browser still gets the push", async () => {
    const { messageId, eventId } = await sentMessage("bea");
    const [gone, kept] = await subscribe("bea", 2);
    pushService.queueFaults(gone?.id ?? "", [410]);
    expect((await processEvent({ deps: events, eventId, now: NOW })).result).toBe("processed");
    expect((await subscriptions.listForUser("bea")).map((subscription) => subscription.endpoint)).toEqual([
      kept?.endpoint,
    ]);
    expect(pushService.received.map((push) => push.subscriptionId)).toEqual([kept?.id]);
    expect((await messageOf(messageId)).delivery.push.status).toBe("sent");
  });

  it("a crash after the push request: the retry sends one push per subscription and one email", async () => {
    const { messageId, eventId } = await sentMessage("cy");
    await subscribe("cy", 2);
    // The process dies in the write that follows the push: the browsers have it, nothing is recorded.
    const dying = dyingAtMessageWrite(createFirestoreProcessorStore(db));
    const crashing = realEventDeps({
      db,
      catcher: services.catcher,
      push: pushTransport,
      storage: { store: dying.store },
    });
    await untilDied(processEvent({ deps: crashing, eventId, now: NOW }), dying.died);
    expect(dying.fired).toEqual(["updateMessage"]);
    expect(pushService.received).toHaveLength(2);
    const afterLease = NOW + events.leaseMs + 1;
    expect((await processEvent({ deps: events, eventId, now: afterLease })).result).toBe("processed");
    expect(pushService.received).toHaveLength(2);
    expect(pushService.attempts).toHaveLength(2);
    expect(services.catcher.emails).toHaveLength(1);
    expect((await messageOf(messageId)).delivery.push.status).toBe("sent");
  });

  it("a 429 is retried through the outbox: the browser that was served is not pushed again", async () => {
    const { messageId, eventId } = await sentMessage("dee");
    const [busy, served] = await subscribe("dee", 2);
    pushService.queueFaults(busy?.id ?? "", [429]);
    const first = await processEvent({ deps: events, eventId, now: NOW });
    expect(first.result).toBe("retry_scheduled");
    expect((await messageOf(messageId)).delivery).toMatchObject({
      email: { status: "sent" },
      push: { status: "pending" },
    });
    if (first.result !== "retry_scheduled") throw new Error("expected a retry");
    expect((await processEvent({ deps: events, eventId, now: first.nextAttemptAt })).result).toBe(
      "processed",
    );
    expect(pushService.received.map((push) => push.subscriptionId).sort()).toEqual(
      [busy?.id, served?.id].sort(),
    );
    expect(services.catcher.emails).toHaveLength(1);
    expect((await messageOf(messageId)).delivery.push.status).toBe("sent");
  });

  it("never sends to a stored endpoint the allowlist refuses now, and drops it", async () => {
    // Stored while its origin was allowed (PUSH_SERVICE_ORIGINS since changed, or an older, looser
    // allowlist): the engine must not POST to it any more.
    const { messageId, eventId } = await sentMessage("gus");
    await subscribe("gus", 1);
    const strict = createWebPushTransport({ vapid, subscriptions, timeoutMs: 5_000, extraOrigins: [] });
    const deps = realEventDeps({ db, catcher: services.catcher, push: strict });
    expect((await processEvent({ deps, eventId, now: NOW })).result).toBe("processed");
    expect(pushService.attempts).toHaveLength(0);
    expect(await subscriptions.listForUser("gus")).toEqual([]);
    expect((await messageOf(messageId)).delivery.push).toMatchObject({ status: "not_delivered" });
    expect(services.catcher.emails).toHaveLength(1);
  });

  it("a subscription no push can be encrypted to is dropped, not retried for a day; the others get theirs", async () => {
    const { messageId, eventId } = await sentMessage("hal");
    const [good] = await subscribe("hal", 1);
    // 65 bytes shaped like a P-256 key but no point on the curve: web-push cannot encrypt to it.
    const notOnCurve = Buffer.concat([Buffer.from([4]), Buffer.alloc(64)]).toString("base64url");
    const broken = pushService.subscribe();
    await subscriptions.save({
      uid: "hal",
      endpoint: broken.endpoint,
      keys: { ...broken.keys, p256dh: notOnCurve },
      now: NOW + 5,
    });
    // And a document no browser registered (junk written by hand): skipped, never a crash.
    await putDocuments(db, "pushSubscriptions", [["hal_junk", { uid: "hal", endpoint: 42, createdAt: NOW }]]);
    expect((await processEvent({ deps: events, eventId, now: NOW })).result).toBe("processed");
    expect(pushService.received.map((push) => push.subscriptionId)).toEqual([good?.id]);
    expect((await subscriptions.listForUser("hal")).map((subscription) => subscription.endpoint)).toEqual([
      good?.endpoint,
    ]);
    expect((await messageOf(messageId)).delivery.push.status).toBe("sent");
  });

  it("a push the engine's own VAPID settings cannot sign fails the push but keeps every browser", async () => {
    const { messageId, eventId } = await sentMessage("ivy");
    await subscribe("ivy", 2);
    const misconfigured = createWebPushTransport({
      vapid: { ...vapid, subject: "not a contact" },
      subscriptions,
      timeoutMs: 5_000,
      extraOrigins: [pushService.url],
    });
    const deps = realEventDeps({ db, catcher: services.catcher, push: misconfigured });
    expect((await processEvent({ deps, eventId, now: NOW })).result).toBe("processed");
    expect(pushService.attempts).toHaveLength(0);
    expect(await subscriptions.listForUser("ivy")).toHaveLength(2);
    expect((await messageOf(messageId)).delivery.push).toMatchObject({ status: "not_delivered" });
  });

  it("an email Resend refuses for good (422) does not hold back the push", async () => {
    const { messageId, eventId } = await sentMessage("jay");
    const [browser] = await subscribe("jay", 1);
    services.catcher.queueFaults([{ status: 422 }]);
    const outcome = await processEvent({ deps: events, eventId, now: NOW });
    // The event still ends as a failure an operator sees (the email), but the push went out.
    expect(outcome.result).not.toBe("processed");
    expect(pushService.received.map((push) => push.subscriptionId)).toEqual([browser?.id]);
    expect((await messageOf(messageId)).delivery).toMatchObject({
      email: { status: "failed" },
      push: { status: "sent" },
    });
  });

  it("keeps at most 10 browsers a user, dropping the oldest", async () => {
    await subscribe("eve", MAX_PUSH_SUBSCRIPTIONS_PER_USER + 2);
    const kept = await subscriptions.listForUser("eve");
    expect(kept).toHaveLength(MAX_PUSH_SUBSCRIPTIONS_PER_USER);
    expect(kept[0]?.createdAt).toBe(NOW + 2);
  });

  it("a user without subscriptions: push recorded as not delivered, the email still goes", async () => {
    const { messageId, eventId } = await sentMessage("fay");
    expect((await processEvent({ deps: events, eventId, now: NOW })).result).toBe("processed");
    expect((await messageOf(messageId)).delivery.push).toMatchObject({
      status: "not_delivered",
      reason: "no push subscriptions",
    });
    expect(services.catcher.emails).toHaveLength(1);
  });
});
