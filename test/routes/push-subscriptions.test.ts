/**
 * The push subscription API on the real Next.js server (Firebase ID tokens from the Auth
 * emulator stand-in), and a delivery through the real `web-push` library to the local push
 * service, which decrypts it.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import webpush from "web-push";
import { messageCreatedEventId, newEvent } from "@/core/events";
import { pushSubscriptionId } from "@/core/push";
import { type AuthEmulator, startAuthEmulator } from "../../scripts/local-stack/auth-emulator";
import { type PushService, startPushService } from "../../scripts/local-stack/push-service";
import { eventually } from "../support/eventually";
import { type EmulatorHandle, putDocuments } from "../support/firestore";
import { emulatorIdToken } from "../support/id-tokens";
import type { NextServer } from "../support/next-server";
import { quietWrites } from "../support/quiet-writes";
import { type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "push-subscriptions-secret-0123456789";
const vapid = webpush.generateVAPIDKeys();

let stack: RouteStack;
let handle: EmulatorHandle;
let db: Firestore;
let projectId: string;
let server: NextServer;
let auth: AuthEmulator;
let pushService: PushService;

beforeAll(async () => {
  auth = await startAuthEmulator();
  pushService = await startPushService();
  stack = await startRouteStack({
    prefix: "push-subscriptions",
    cronSecret: SECRET,
    env: {
      FIREBASE_AUTH_EMULATOR_HOST: auth.host,
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: "mailto:ops@coach.example",
      PUSH_SERVICE_ORIGINS: pushService.url,
    },
  });
  ({ handle, db, projectId, server } = stack);
  await putDocuments(db, "users", [
    [
      "ada",
      {
        email: "ada@example.com",
        timezone: "UTC",
        coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
      },
    ],
  ]);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await pushService?.stop();
  await auth?.stop();
});

const tokenFor = (uid: string) => emulatorIdToken({ uid, projectId });

function call(
  path: string,
  { method = "PUT", body, token }: { method?: string; body?: unknown; token?: string },
) {
  const headers = new Headers({ "content-type": "application/json" });
  if (token) headers.set("authorization", `Bearer ${token}`);
  return fetch(`${server.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}

const PATH = "/api/users/ada/push-subscriptions";

describe("push subscription API", () => {
  it("PUT registers a browser (201), again refreshes it (200); DELETE removes it", async () => {
    const subscription = { ...pushService.subscribe(), expirationTime: null };
    const created = await call(PATH, { body: subscription, token: tokenFor("ada") });
    expect(created.status).toBe(201);
    const id = pushSubscriptionId("ada", subscription.endpoint);
    expect(await created.json()).toEqual({ success: true, subscriptionId: id, created: true });
    expect((await db.doc(`pushSubscriptions/${id}`).get()).data()).toMatchObject({
      uid: "ada",
      endpoint: subscription.endpoint,
      keys: subscription.keys,
    });
    expect((await call(PATH, { body: subscription, token: tokenFor("ada") })).status).toBe(200);

    const removed = await call(PATH, {
      method: "DELETE",
      body: { endpoint: subscription.endpoint },
      token: tokenFor("ada"),
    });
    expect(await removed.json()).toEqual({ success: true, removed: true });
    expect((await db.doc(`pushSubscriptions/${id}`).get()).exists).toBe(false);
  });

  it.each([
    ["no ID token", () => ({ body: pushService.subscribe() }), 401],
    ["another user's ID token", () => ({ body: pushService.subscribe(), token: tokenFor("bea") }), 403],
    [
      "an endpoint that is no push service",
      () => ({
        body: { ...pushService.subscribe(), endpoint: "https://attacker.example/hook" },
        token: tokenFor("ada"),
      }),
      400,
    ],
    [
      "an internal address as endpoint",
      () => ({
        body: { ...pushService.subscribe(), endpoint: "http://169.254.169.254/latest" },
        token: tokenFor("ada"),
      }),
      400,
    ],
    [
      "a p256dh that is no P-256 key",
      () => {
        const subscription = pushService.subscribe();
        return {
          body: { ...subscription, keys: { ...subscription.keys, p256dh: "AAAA" } },
          token: tokenFor("ada"),
        };
      },
      400,
    ],
    [
      "a p256dh of 65 bytes that is no point on the P-256 curve",
      () => {
        const subscription = pushService.subscribe();
        const notOnCurve = Buffer.concat([Buffer.from([4]), Buffer.alloc(64)]).toString("base64url");
        return {
          body: { ...subscription, keys: { ...subscription.keys, p256dh: notOnCurve } },
          token: tokenFor("ada"),
        };
      },
      400,
    ],
    [
      "an endpoint holding a lone surrogate (valid JSON, no UTF-8 can hold it)",
      () => {
        const subscription = pushService.subscribe();
        return {
          body: { ...subscription, endpoint: `${subscription.endpoint}\ud800` },
          token: tokenFor("ada"),
        };
      },
      400,
    ],
    [
      "an unknown field",
      () => ({ body: { ...pushService.subscribe(), extra: 1 }, token: tokenFor("ada") }),
      400,
    ],
    ["a body that is not JSON", () => ({ body: "{oops", token: tokenFor("ada") }), 400],
  ])("%s: nothing written", async (_case, request, status) => {
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    const response = await call(PATH, request());
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual({ success: false, error: expect.any(String) });
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
  });

  it("an unknown user → 404, nothing written", async () => {
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    const response = await call("/api/users/ghost/push-subscriptions", {
      body: pushService.subscribe(),
      token: tokenFor("ghost"),
    });
    expect(response.status).toBe(404);
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
  });
});

describe("a delivery through the push service", () => {
  it("the decrypted payload the push service received is the message's push text", async () => {
    const subscription = pushService.subscribe();
    expect((await call(PATH, { body: subscription, token: tokenFor("ada") })).status).toBe(201);
    const messageId = "ada_1";
    await putDocuments(db, "coachingMessages", [
      [
        messageId,
        {
          id: messageId,
          uid: "ada",
          slotId: messageId,
          messageContent: "A message for ada.",
          pushNotificationText: "Two minutes of quiet before lunch?",
          status: "sent",
          journalEntryId: `coaching_${messageId}`,
          delivery: {
            email: { status: "pending", providerId: null, error: null, attemptedAt: null },
            push: { status: "pending", text: null },
          },
        },
      ],
    ]);
    const event = newEvent({
      id: messageCreatedEventId(messageId),
      eventType: "coaching.message.created",
      aggregateId: messageId,
      aggregateType: "coachingMessage",
      payload: { messageId, uid: "ada", slotId: messageId },
      createdBy: "test",
      now: Date.now(),
    });
    await putDocuments(db, "events", [[event.id, { ...event }]]);
    const response = await fetch(`${server.url}/api/events/process-event`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${SECRET}` },
      body: JSON.stringify({ event_id: event.id }),
    });
    expect(response.status).toBe(202);
    await eventually(
      async () => (await db.doc(`coachingMessages/${messageId}`).get()).get("delivery.push.status"),
      (status) => status === "sent",
    );
    const id = subscription.endpoint.split("/").at(-1);
    expect(pushService.received.filter((push) => push.subscriptionId === id)).toEqual([
      expect.objectContaining({ payload: "Two minutes of quiet before lunch?", vapidKey: vapid.publicKey }),
    ]);
  });
});
