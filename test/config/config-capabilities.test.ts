/**
 * The configuration exposes what is configured, not the raw environment: each optional feature
 * is a capability, null while its variable is unset, and a blank value counts as unset.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import webpush from "web-push";
import { loadConfig, requireKeyring, requireSetting } from "@/config";

const BASE_ENV = { NODE_ENV: "production", FIRESTORE_EMULATOR_HOST: "127.0.0.1:1" } as const;
const KEY = Buffer.alloc(32, 7).toString("base64");
const OLD_KEY = Buffer.alloc(32, 3).toString("base64");
const vapid = webpush.generateVAPIDKeys();

/** Every optional text variable (the base's FIRESTORE_EMULATOR_HOST aside). */
const OPTIONAL_TEXT_VARIABLES = [
  "CRON_SECRET",
  "ADMIN_PASSWORD",
  "ADMIN_SESSION_SECRET",
  "ENCRYPTION_KEY",
  "ENCRYPTION_PREVIOUS_KEYS",
  "APP_URL",
  "VERCEL_ENV",
  "VERCEL",
  "TRUSTED_PROXY_HOPS",
  "VERCEL_PROJECT_PRODUCTION_URL",
  "VERCEL_URL",
  "FIREBASE_PROJECT_ID",
  "FIREBASE_SERVICE_ACCOUNT",
  "GOOGLE_APPLICATION_CREDENTIALS",
  "FIREBASE_AUTH_EMULATOR_HOST",
  "OPENROUTER_API_KEY",
  "OPENROUTER_BASE_URL",
  "RESEND_API_KEY",
  "RESEND_BASE_URL",
  "UNSUBSCRIBE_SECRET",
  "UNSUBSCRIBE_MAILTO",
  "RESEND_WEBHOOK_SECRET",
  "JOURNAL_APP_URL",
  "VAPID_PUBLIC_KEY",
  "VAPID_PRIVATE_KEY",
  "VAPID_SUBJECT",
  "PUSH_SERVICE_ORIGINS",
  "ALERT_WEBHOOK_URL",
] as const;

describe("configuration capabilities", () => {
  it("are all off with nothing configured", () => {
    const config = loadConfig(BASE_ENV);
    expect(config).toMatchObject({
      email: null,
      push: null,
      unsubscribe: null,
      resendWebhook: null,
      ownKeyEncryption: null,
      llmCeiling: null,
      alerts: null,
      cronSecret: null,
      admin: { password: null, sessionSecret: null },
      llm: { defaultApiKey: null },
      pushServiceOrigins: [],
    });
  });

  it("does not expose the raw environment", () => {
    const config = loadConfig({ ...BASE_ENV, RESEND_API_KEY: "re_test" });
    expect(config).not.toHaveProperty("env");
    expect(config).not.toHaveProperty("nodeEnv");
  });

  it("email is on with RESEND_API_KEY: the key, Resend's base URL and the sender", () => {
    expect(loadConfig({ ...BASE_ENV, RESEND_API_KEY: "re_test" }).email).toEqual({
      apiKey: "re_test",
      baseUrl: "https://api.resend.com",
      from: "Coaching <coach@example.com>",
    });
  });

  it("push is on with the three VAPID settings, with its timeout", () => {
    const config = loadConfig({
      ...BASE_ENV,
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: "mailto:ops@coach.example",
    });
    expect(config.push).toEqual({
      vapid: {
        publicKey: vapid.publicKey,
        privateKey: vapid.privateKey,
        subject: "mailto:ops@coach.example",
      },
      timeoutMs: 5_000,
    });
  });

  it("own keys are on with ENCRYPTION_KEY: the current key under its version, and the previous ones", () => {
    const config = loadConfig({
      ...BASE_ENV,
      ENCRYPTION_KEY: KEY,
      ENCRYPTION_KEY_VERSION: "2",
      ENCRYPTION_PREVIOUS_KEYS: `1:${OLD_KEY}`,
    });
    const keyring = requireKeyring(config);
    expect(keyring.current).toEqual({ version: 2, key: Buffer.from(KEY, "base64") });
    expect([...keyring.byVersion.keys()].sort()).toEqual([1, 2]);
    expect(keyring.byVersion.get(1)).toEqual(Buffer.from(OLD_KEY, "base64"));
    expect(config.ownKeyEncryption).toBe(keyring);
  });

  it("demands an unset secret where it is used, naming the variable", () => {
    const config = loadConfig(BASE_ENV);
    expect(() => requireKeyring(config)).toThrow("ENCRYPTION_KEY is not set");
    for (const name of [
      "CRON_SECRET",
      "ADMIN_PASSWORD",
      "ADMIN_SESSION_SECRET",
      "OPENROUTER_API_KEY",
    ] as const) {
      expect(() => requireSetting(config, name)).toThrow(`${name} is not set`);
    }
    const configured = loadConfig({
      ...BASE_ENV,
      CRON_SECRET: "c".repeat(16),
      ADMIN_PASSWORD: "password",
      ADMIN_SESSION_SECRET: "s".repeat(32),
      OPENROUTER_API_KEY: "sk-or-test",
    });
    expect(requireSetting(configured, "CRON_SECRET")).toBe("c".repeat(16));
    expect(requireSetting(configured, "ADMIN_PASSWORD")).toBe("password");
    expect(requireSetting(configured, "ADMIN_SESSION_SECRET")).toBe("s".repeat(32));
    expect(requireSetting(configured, "OPENROUTER_API_KEY")).toBe("sk-or-test");
  });

  it("a blank optional variable loads exactly as an unset one", () => {
    const unset = JSON.stringify(loadConfig(BASE_ENV));
    fc.assert(
      fc.property(
        fc.constantFrom(...OPTIONAL_TEXT_VARIABLES),
        fc.stringMatching(/^[ \t\r\n]*$/),
        (name, blank) => {
          expect(JSON.stringify(loadConfig({ ...BASE_ENV, [name]: blank }))).toBe(unset);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("checks the rules across variables only once each variable is valid", () => {
    // Half a VAPID key pair is a problem of its own, named only when the variables themselves parse.
    expect(() =>
      loadConfig({ ...BASE_ENV, RESEND_BASE_URL: "not a url", VAPID_PUBLIC_KEY: vapid.publicKey }),
    ).toThrow(/^Invalid configuration: RESEND_BASE_URL: Invalid URL$/);
    expect(() => loadConfig({ ...BASE_ENV, VAPID_PUBLIC_KEY: vapid.publicKey })).toThrow(
      /^Invalid configuration: VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT are set together or not at all$/,
    );
  });
});
