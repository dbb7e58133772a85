/**
 * Posting alerts against the local webhook stand-in: Slack-compatible `{ text }`, and every
 * failure as data the outbox acts on (retriable: a timeout, 5xx, 429; not: a revoked webhook).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createSlackWebhook } from "@/adapters/alerts/slack-webhook";
import { postAlert } from "@/pipeline/outbox/post-alert";
import { type AlertWebhookStandIn, startAlertWebhook } from "../../support/alert-webhook";

let standIn: AlertWebhookStandIn;

beforeAll(async () => {
  standIn = await startAlertWebhook();
});

afterAll(async () => {
  await standIn?.stop();
});

beforeEach(() => standIn.clear());

const listen = (server: Server) => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const payload = {
  alertId: "llm_breaker_open_2026-11-30T09",
  transition: "fired" as const,
  text: "[coaching-engine] ALERT",
};

describe("the alert webhook", () => {
  it("posts the text as Slack's { text }", async () => {
    const webhook = createSlackWebhook({ webhookUrl: standIn.url, timeoutMs: 1_000 });
    expect(await postAlert(webhook, payload)).toEqual({ ok: true, detail: "posted fired" });
    expect(standIn.posts.map((post) => post.text)).toEqual(["[coaching-engine] ALERT"]);
  });

  it.each([
    [{ status: 500 }, true, "alert webhook answered 500"],
    [{ status: 429 }, true, "alert webhook answered 429"],
    [{ status: 404 }, false, "alert webhook answered 404"],
    [{ delayMs: 500 }, true, "alert webhook: no answer within 100 ms"],
  ] as const)("answers %o as a failure, retriable %s", async (fault, retriable, reason) => {
    standIn.queueFaults([fault]);
    const webhook = createSlackWebhook({ webhookUrl: standIn.url, timeoutMs: 100 });
    const result = await postAlert(webhook, payload);
    expect(result).toEqual({ ok: false, retriable, reason });
    // No reason names the URL, a secret.
    expect(JSON.stringify(result)).not.toContain("services/T000");
    expect(standIn.posts).toEqual([]);
  });

  it("follows no redirect: a 3xx is a failure not worth retrying, and the target is never posted to", async () => {
    const posted: string[] = [];
    const target = createServer((request, response) => {
      posted.push(request.url ?? "");
      response.end("ok");
    });
    const redirecting = createServer((_request, response) => {
      response.writeHead(307, { location: `${origin(target)}/internal` });
      response.end();
    });
    await Promise.all([listen(target), listen(redirecting)]);
    try {
      const webhook = createSlackWebhook({
        webhookUrl: `${origin(redirecting)}/services/T000/B000/secret`,
        timeoutMs: 2_000,
      });
      const result = await webhook.post("[coaching-engine] ALERT");
      expect(result).toMatchObject({ ok: false, retriable: false });
      expect(JSON.stringify(result)).not.toContain("services/T000");
      expect(posted).toEqual([]);
    } finally {
      target.close();
      redirecting.close();
    }
  });

  it("does not read the answer's body: an endless answer does not hold the post", async () => {
    const endless = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/plain" });
      const chunk = "x".repeat(64 * 1024);
      const timer = setInterval(() => response.write(chunk), 5);
      response.on("close", () => clearInterval(timer));
    });
    await listen(endless);
    try {
      const webhook = createSlackWebhook({ webhookUrl: `${origin(endless)}/hook`, timeoutMs: 1_000 });
      const started = performance.now();
      expect(await webhook.post("[coaching-engine] ALERT")).toEqual({ ok: true });
      expect(performance.now() - started).toBeLessThan(900);
    } finally {
      endless.closeAllConnections();
      endless.close();
    }
  });

  it("posts nothing, and is done, when no webhook is configured", async () => {
    expect(await postAlert(null, payload)).toEqual({
      ok: true,
      detail: "ALERT_WEBHOOK_URL is not set: not posted",
    });
  });
});
