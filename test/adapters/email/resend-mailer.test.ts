/**
 * The Resend mailer is configured only through its options (src/config hands it RESEND_BASE_URL):
 * no test sets `process.env` for it, and the SDK never falls back to the environment.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createResendMailer } from "@/adapters/email/resend-mailer";
import { loadConfig, RESEND_DEFAULT_BASE_URL } from "@/config";
import { type MailCatcher, startMailCatcher } from "../../../scripts/local-stack/mail-catcher";

let catcher: MailCatcher;

beforeAll(async () => {
  catcher = await startMailCatcher();
});
afterAll(async () => {
  await catcher.stop();
});

const BASE_ENV = { NODE_ENV: "test", FIRESTORE_EMULATOR_HOST: "127.0.0.1:1" } as const;

describe("Resend configuration", () => {
  it("takes the API's base URL from RESEND_BASE_URL, and Resend's own without it", () => {
    const withKey = { ...BASE_ENV, RESEND_API_KEY: "re_test" };
    expect(loadConfig({ ...withKey, RESEND_BASE_URL: "http://127.0.0.1:4020/" }).email?.baseUrl).toBe(
      "http://127.0.0.1:4020",
    );
    expect(loadConfig(withKey).email?.baseUrl).toBe(RESEND_DEFAULT_BASE_URL);
  });

  it("sends to the base URL it is given, with the extra headers, the environment untouched", async () => {
    expect(process.env.RESEND_BASE_URL).toBeUndefined();
    const mailer = createResendMailer({
      apiKey: "re_test",
      baseUrl: catcher.url,
      from: "Coach <coach@example.com>",
      timeoutMs: 5_000,
    });
    const sent = await mailer.send({
      to: "ada@example.com",
      subject: "A note",
      html: "<p>Hi</p>",
      text: "Hi",
      idempotencyKey: "event-1",
      headers: { "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" },
    });
    expect(sent).toEqual({ ok: true, id: catcher.emails[0]?.id });
    expect(catcher.emails[0]?.headers).toEqual({ "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" });
  });

  it("turns unsubscribe and webhook settings into configuration, off while unset", () => {
    const off = loadConfig(BASE_ENV);
    expect(off.unsubscribe).toBeNull();
    expect(off.resendWebhook).toBeNull();
    const on = loadConfig({
      ...BASE_ENV,
      APP_URL: "https://coach.example",
      UNSUBSCRIBE_SECRET: "s".repeat(32),
      UNSUBSCRIBE_MAILTO: "unsubscribe@coach.example",
      RESEND_WEBHOOK_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    });
    expect(on.unsubscribe).toEqual({
      secret: "s".repeat(32),
      pageUrl: "https://coach.example/unsubscribe",
      mailto: "unsubscribe@coach.example",
    });
    expect(on.resendWebhook).toEqual({ secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" });
    expect(() => loadConfig({ ...BASE_ENV, UNSUBSCRIBE_SECRET: "short" })).toThrow(/UNSUBSCRIBE_SECRET/);
    expect(() => loadConfig({ ...BASE_ENV, RESEND_WEBHOOK_SECRET: "secret" })).toThrow(
      /RESEND_WEBHOOK_SECRET/,
    );
    expect(() => loadConfig({ ...BASE_ENV, UNSUBSCRIBE_MAILTO: "not an address" })).toThrow(
      /UNSUBSCRIBE_MAILTO/,
    );
  });

  it.each(["whsec_", "whsec_abc", "whsec_!!!not-base64"])(
    "refuses RESEND_WEBHOOK_SECRET=%j at start-up, which the svix library could not use",
    (secret) => {
      // Accepted, it would make every webhook delivery a 500 that names no variable.
      expect(() => loadConfig({ ...BASE_ENV, RESEND_WEBHOOK_SECRET: secret })).toThrow(
        /RESEND_WEBHOOK_SECRET/,
      );
    },
  );
});
