import { describe, expect, it } from "vitest";
import webpush from "web-push";
import { loadConfig } from "@/config";
import { isAllowedPushEndpoint, isPushPublicKey, pushTopicFor } from "@/core/push";

const BASE_ENV = { NODE_ENV: "production", FIRESTORE_EMULATOR_HOST: "127.0.0.1:1" } as const;
const vapid = webpush.generateVAPIDKeys();

describe("Web Push configuration", () => {
  it("is off without the VAPID keys, on with all three", () => {
    expect(loadConfig(BASE_ENV).push).toBeNull();
    const on = loadConfig({
      ...BASE_ENV,
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: "mailto:ops@coach.example",
      PUSH_SERVICE_ORIGINS: "http://127.0.0.1:4030/, http://localhost:4031",
    });
    expect(on.push).toEqual({
      vapid: {
        publicKey: vapid.publicKey,
        privateKey: vapid.privateKey,
        subject: "mailto:ops@coach.example",
      },
      timeoutMs: 5_000,
    });
    expect(on.pushServiceOrigins).toEqual(["http://127.0.0.1:4030", "http://localhost:4031"]);
  });

  it.each([
    [{ VAPID_PUBLIC_KEY: vapid.publicKey }, /set together/],
    [
      { VAPID_PUBLIC_KEY: "short", VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: "mailto:a@b.c" },
      /VAPID_PUBLIC_KEY/,
    ],
    [
      { VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: "ops" },
      /VAPID_SUBJECT/,
    ],
    // The push requests count toward the drain's 60 s, with the email's.
    [{ PUSH_TIMEOUT_MS: "10000" }, /PUSH_TIMEOUT_MS.*maxDuration/],
  ])("refuses %j", (env, message) => {
    expect(() => loadConfig({ ...BASE_ENV, ...env })).toThrow(message);
  });
});

describe("push endpoints", () => {
  it.each([
    ["https://fcm.googleapis.com/fcm/send/abc", true],
    ["https://jmt17.google.com/fcm/send/abc", true],
    ["https://updates.push.services.mozilla.com/wpush/v2/abc", true],
    ["https://web.push.apple.com/QGx", true],
    ["https://wns2-par02p.notify.windows.com/w/?token=x", true],
    ["http://fcm.googleapis.com/fcm/send/abc", false],
    ["https://fcm.googleapis.com:8443/fcm/send/abc", false],
    ["https://googleapis.com.attacker.example/x", false],
    ["https://user:pass@fcm.googleapis.com/x", false],
    ["http://169.254.169.254/latest/meta-data", false],
    ["http://127.0.0.1:4030/push/1", true],
    ["not a url", false],
    // Hosts under googleapis.com that anyone can hold (a Cloud Storage bucket), not a push service.
    ["https://attacker-bucket.storage.googleapis.com/upload", false],
    ["https://storage.googleapis.com/attacker-bucket/o", false],
    // Userinfo is refused on a configured origin too (fetch cannot even send it).
    ["http://user:pass@127.0.0.1:4030/push/1", false],
  ])("%s → %s", (endpoint, allowed) => {
    expect(isAllowedPushEndpoint(endpoint, ["http://127.0.0.1:4030"])).toBe(allowed);
  });

  it("accepts as p256dh only a point on the P-256 curve", () => {
    expect(isPushPublicKey(webpush.generateVAPIDKeys().publicKey)).toBe(true);
    expect(isPushPublicKey(Buffer.concat([Buffer.from([4]), Buffer.alloc(64)]).toString("base64url"))).toBe(
      false,
    );
    expect(isPushPublicKey(Buffer.alloc(65, 1).toString("base64url"))).toBe(false);
    expect(isPushPublicKey("AAAA")).toBe(false);
  });

  it("gives each message a topic of at most 32 base64url characters", () => {
    expect(pushTopicFor("user_1764480000000")).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(pushTopicFor("a")).not.toBe(pushTopicFor("b"));
  });
});
