/**
 * ALERT_WEBHOOK_URL: alerts are posted only when it is set; in production it must be https,
 * except for a stand-in on this machine (the route tests run `next start`, which is production).
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "@/config";

const BASE_ENV = { FIRESTORE_EMULATOR_HOST: "127.0.0.1:1" } as const;

describe("ALERT_WEBHOOK_URL", () => {
  it("is off, not broken, when unset: alerts are stored and shown, not posted", () => {
    expect(loadConfig({ ...BASE_ENV, NODE_ENV: "production" }).alerts).toBeNull();
  });

  it("turns posting on with the URL and a bounded timeout", () => {
    const config = loadConfig({
      ...BASE_ENV,
      NODE_ENV: "production",
      ALERT_WEBHOOK_URL: "https://hooks.slack.com/services/T000/B000/XXXX",
    });
    expect(config.alerts).toEqual({
      webhookUrl: "https://hooks.slack.com/services/T000/B000/XXXX",
      timeoutMs: 5_000,
    });
  });

  it.each([
    ["http://hooks.example.com/alerts", "production", "must be an https: URL in production"],
    ["ftp://hooks.example.com/alerts", "production", "ALERT_WEBHOOK_URL"],
    ["not a url", "development", "ALERT_WEBHOOK_URL"],
  ] as const)("refuses %s in %s, naming the variable", (url, nodeEnv, message) => {
    expect(() => loadConfig({ ...BASE_ENV, NODE_ENV: nodeEnv, ALERT_WEBHOOK_URL: url })).toThrow(message);
  });

  it.each([
    ["http://127.0.0.1:4010/hook", "production"],
    ["http://localhost:4010/hook", "production"],
    ["http://hooks.internal:8080/hook", "development"],
  ] as const)("accepts %s in %s (a local stand-in, or not production)", (url, nodeEnv) => {
    expect(loadConfig({ ...BASE_ENV, NODE_ENV: nodeEnv, ALERT_WEBHOOK_URL: url }).alerts?.webhookUrl).toBe(
      url,
    );
  });
});
