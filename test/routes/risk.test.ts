/**
 * Crisis-aware coaching on the real Next.js server (docs/generation.md "Safety"): a user whose
 * entries carry acute risk (the fixture corpus; the sandbox answers their level) gets a supportive
 * message ending with the configured SAFETY_RESOURCES text, never a challenge, and the operator is
 * flagged on the user's admin page and counted on the dashboard; a neutral user is unaffected.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RISK_RESTRICTED_TYPES } from "@/core/risk";
import { createSessionToken } from "@/http/admin-session";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import type { MailCatcher } from "../../scripts/local-stack/mail-catcher";
import { riskFixture } from "../fixtures/risk/corpus";
import { eventually } from "../support/eventually";
import type { NextServer } from "../support/next-server";
import { seedDueUser } from "../support/processor";
import { caller, type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "risk-route-cron-secret-0123456789ab";
const SESSION_SECRET = "risk-route-session-secret-0123456789abcdef";
const PROCESSOR = "/api/coaching/generateCoachingMessage/processor";
const RESOURCES = {
  en: "If you are in crisis, call or text 988 (US) or your local emergency number.",
  default: "If you are in crisis, call your local emergency number.",
};

let stack: RouteStack;
let catcher: MailCatcher;
let db: Firestore;
let server: NextServer;

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "risk-route",
    cronSecret: SECRET,
    env: {
      SAFETY_RESOURCES: JSON.stringify(RESOURCES),
      ADMIN_PASSWORD: "risk-route-admin-password",
      ADMIN_SESSION_SECRET: SESSION_SECRET,
    },
  });
  ({ catcher, db, server } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const call = caller(() => server, { method: "POST", token: SECRET });

/** Runs the processor route for `uid` and waits for the message's email; returns the sent message. */
async function sentMessageOf(uid: string) {
  expect((await call(PROCESSOR, { body: { userId: uid } })).status).toBe(202);
  const email = await eventually(
    async () => catcher.emails.find((caught) => caught.to[0] === `${uid}@example.com`),
    (found) => found !== undefined,
  );
  const snapshot = await db.collection("coachingMessages").where("uid", "==", uid).get();
  const messages = snapshot.docs.map((document) => document.data() as StoredMessage);
  const sent = messages.filter((message) => message.wasSent);
  expect(sent).toHaveLength(1);
  return { message: sent[0] as StoredMessage, messages, email };
}

async function adminPage(path: string): Promise<string> {
  const cookie = `ce_admin_session=${createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() })}`;
  const response = await fetch(`${server.url}${path}`, { headers: { cookie } });
  expect(response.status).toBe(200);
  return response.text();
}

describe("crisis-aware coaching, through the routes", () => {
  it("sends an acute-risk user a supportive message with the configured helpline, flags the operator, never a challenge", async () => {
    const fixture = riskFixture("en-acute");
    await seedDueUser(db, { uid: "route-acute", now: Date.now(), entries: fixture.entries });
    const { message, messages, email } = await sentMessageOf("route-acute");

    expect(message.riskLevel).toBe("acute");
    expect(RISK_RESTRICTED_TYPES).not.toContain(message.messageType);
    expect(message.messageContent.endsWith(`\n\n${RESOURCES.en}`)).toBe(true);
    for (const attempt of messages)
      expect(attempt.messageContent.toLowerCase()).not.toContain(fixture.distinctivePhrase.toLowerCase());
    expect(email?.text).toContain("988");
    expect(`${email?.html}${email?.text}${email?.subject}`).not.toContain(message.riskReason ?? "—");

    const state = (await db.doc("userProcessingState/route-acute").get()).data();
    expect(state).toMatchObject({ lastAcuteRiskSlotId: message.slotId, lastAcuteRiskAt: expect.any(Number) });

    const userPage = await adminPage("/admin/users/route-acute");
    expect(userPage).toContain('data-testid="acute-risk-flag"');
    expect(userPage).toContain("A supportive message with the helpline text was sent.");
    expect(userPage).toContain('data-testid="message-risk"');
    const dashboard = await adminPage("/admin");
    expect(dashboard).toMatch(/data-testid="acute-risk-24h"[^>]*>(?:<[^>]+>)*[1-9]/);
    // The latest acute attempts, each linked to its user's page.
    expect(dashboard).toContain('data-testid="acute-risk-recent"');
    expect(dashboard).toContain('href="/admin/users/route-acute"');
  });

  it("leaves a neutral user's message unaffected: no helpline, no flag", async () => {
    await seedDueUser(db, {
      uid: "route-neutral",
      now: Date.now(),
      entries: riskFixture("en-neutral").entries,
    });
    const { message } = await sentMessageOf("route-neutral");

    expect(message).toMatchObject({ riskLevel: "none", riskReason: null });
    expect(message.messageContent).not.toContain(RESOURCES.en);
    expect((await db.doc("userProcessingState/route-neutral").get()).get("lastAcuteRiskAt")).toBeUndefined();
    const userPage = await adminPage("/admin/users/route-neutral");
    expect(userPage).not.toContain('data-testid="acute-risk-flag"');
  });
});
