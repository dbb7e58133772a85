import { afterAll, beforeAll, describe, expect, it } from "vitest";
import webpush from "web-push";
import { type PushService, startPushService } from "../../../scripts/local-stack/push-service";

let service: PushService;
const vapid = webpush.generateVAPIDKeys();
const vapidDetails = { subject: "mailto:ops@coach.example", ...vapid };

beforeAll(async () => {
  service = await startPushService();
});
afterAll(async () => {
  await service.stop();
});

async function deliver(subscription: ReturnType<PushService["subscribe"]>, payload: string) {
  const request = webpush.generateRequestDetails(subscription, payload, {
    vapidDetails,
    TTL: 60,
    urgency: "normal",
    topic: "coaching1",
  });
  return fetch(request.endpoint, {
    method: "POST",
    headers: request.headers,
    body: new Uint8Array(request.body),
  });
}

describe("push service stand-in, driven by the real web-push library", () => {
  it("decrypts what web-push encrypted for a subscription it issued (RFC 8291)", async () => {
    const subscription = service.subscribe();
    const response = await deliver(subscription, "A note for you ✨");
    expect(response.status).toBe(201);
    expect(service.received.at(-1)).toMatchObject({
      payload: "A note for you ✨",
      ttl: 60,
      urgency: "normal",
      topic: "coaching1",
      vapidKey: vapid.publicKey,
    });
  });

  it("answers queued faults, and 404 for a subscription it dropped after a 410", async () => {
    const subscription = service.subscribe();
    const id = subscription.endpoint.split("/").at(-1) ?? "";
    service.queueFaults(id, [429, 410]);
    expect((await deliver(subscription, "one")).status).toBe(429);
    expect((await deliver(subscription, "two")).status).toBe(410);
    expect((await deliver(subscription, "three")).status).toBe(404);
  });
});
