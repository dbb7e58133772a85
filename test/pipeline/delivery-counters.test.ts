/**
 * The per-user delivery counters (issue 15): the outbox's delivery handler counts each email it
 * hands to Resend and each push it delivers on the user's processing state, once per message
 * whatever is retried, replayed or crashes, on the emulator with the real Resend SDK and the mail
 * catcher.
 */
import type { Firestore } from "firebase-admin/firestore";
import { beforeEach, describe, expect, it } from "vitest";
import { createFirestoreProcessingStateStore } from "@/adapters/firestore/processing-state-store";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { deliveryCounts, deliveryDayField } from "@/core/delivery-counts";
import type { PushTransport } from "@/pipeline/channel-ports";
import { processEvent } from "@/pipeline/outbox/process-event";
import { putDocuments } from "../support/firestore";
import { dyingAtMessageWrite, untilDied } from "../support/process-death";
import { realEventDeps } from "../support/processor";
import { putSentMessage } from "../support/sent-message";
import { localServicesForFile } from "../support/stack";

const DAY = 86_400_000;
/** Midday UTC, so a day before and after stay on their own UTC days. */
const NOW = Date.UTC(2026, 10, 30, 12);

const services = localServicesForFile();
let db: Firestore;

beforeEach(() => {
  ({ db } = services.handle.freshProject("delivery-counters"));
  services.catcher.emails.length = 0;
  services.catcher.attempts.length = 0;
});

/** A user and a sent, journaled message with its pending delivery event. */
async function sentMessage(
  uid: string,
  {
    slot = "1",
    at = NOW,
    emailNotifications = true,
  }: { slot?: string; at?: number; emailNotifications?: boolean } = {},
) {
  await putDocuments(db, "users", [
    [
      uid,
      {
        email: `${uid}@example.com`,
        timezone: "UTC",
        coachingConfig: {
          enableCoachingMessages: true,
          frequency: "daily",
          timePreference: "morning",
          emailNotifications,
        },
        nextCoachingMessageDue: at + DAY,
      },
    ],
  ]);
  return putSentMessage(db, { uid, slot, at: at });
}

async function countsOf(uid: string, now = NOW) {
  const state = await createFirestoreProcessingStateStore(db).getState(uid);
  if (!state) throw new Error(`no processing state for ${uid}`);
  return deliveryCounts(state, now);
}

const delivering: PushTransport = { send: async () => ({ delivered: true }) };

describe("delivery counters on the processing state", () => {
  it("one email and one push: totals 1, today's 1, and the last times set", async () => {
    const { eventId } = await sentMessage("ada");
    const deps = realEventDeps({ db, catcher: services.catcher, push: delivering });
    expect((await processEvent({ deps, eventId, now: NOW })).result).toBe("processed");
    expect(services.catcher.emails).toHaveLength(1);
    expect(await countsOf("ada")).toEqual({
      totalEmailsSent: 1,
      lastEmailSentAt: NOW,
      emailsSentToday: 1,
      totalPushesSent: 1,
      lastPushSentAt: NOW,
      pushesSentToday: 1,
    });
    // Stored as top-level fields, the day's named by its UTC date.
    const stored = (await db.collection("userProcessingState").doc("ada").get()).data();
    expect(stored).toMatchObject({ totalEmailsSent: 1, emailsSent_d20261130: 1, pushesSent_d20261130: 1 });
  });

  it("a count write that fails neither fails nor retries the delivery that went out", async () => {
    const { eventId } = await sentMessage("cal");
    const failingState = {
      ...createFirestoreProcessingStateStore(db),
      updateState: async () => {
        throw new Error("4 DEADLINE_EXCEEDED: the state write timed out");
      },
    };
    const deps = realEventDeps({
      db,
      catcher: services.catcher,
      push: delivering,
      storage: { stateStore: failingState },
    });
    expect((await processEvent({ deps, eventId, now: NOW })).result).toBe("processed");
    expect(services.catcher.emails).toHaveLength(1);
    expect((await db.doc(`events/${eventId}`).get()).get("status")).toBe("processed");
  });

  it("a replayed delivery event counts nothing again", async () => {
    const { eventId } = await sentMessage("bea");
    const deps = realEventDeps({ db, catcher: services.catcher, push: delivering });
    await processEvent({ deps, eventId, now: NOW });
    expect(await deps.store.requeue({ eventId, now: NOW + 60_000 })).toBe(true);
    expect((await processEvent({ deps, eventId, now: NOW + 60_000 })).result).toBe("processed");
    expect(services.catcher.emails).toHaveLength(1);
    expect(await countsOf("bea")).toMatchObject({
      totalEmailsSent: 1,
      emailsSentToday: 1,
      totalPushesSent: 1,
    });
  });

  it("a crash after Resend took the email: the retry, deduplicated by Resend, counts it once", async () => {
    const { eventId } = await sentMessage("cleo");
    const deps = realEventDeps({ db, catcher: services.catcher });
    // The process dies in the write that follows the send: Resend has the email, nothing is recorded.
    const dying = dyingAtMessageWrite(createFirestoreProcessorStore(db));
    const crashing = realEventDeps({ db, catcher: services.catcher, storage: { store: dying.store } });
    await untilDied(processEvent({ deps: crashing, eventId, now: NOW }), dying.died);
    expect(dying.fired).toEqual(["updateMessage"]);
    expect(services.catcher.emails).toHaveLength(1);
    const afterLease = NOW + deps.leaseMs + 1;
    expect((await processEvent({ deps, eventId, now: afterLease })).result).toBe("processed");
    expect(services.catcher.attempts).toHaveLength(2);
    expect(services.catcher.emails).toHaveLength(1);
    expect(await countsOf("cleo")).toMatchObject({
      totalEmailsSent: 1,
      emailsSentToday: 1,
      lastEmailSentAt: afterLease,
    });
  });

  it("a push retried after the email went: the email counted once, the push once it is delivered", async () => {
    const { eventId } = await sentMessage("dora");
    const answers = [
      { delivered: false as const, reason: "push service 503", retriable: true },
      { delivered: true as const },
    ];
    const flaky: PushTransport = { send: async () => answers.shift() ?? { delivered: true } };
    const deps = realEventDeps({ db, catcher: services.catcher, push: flaky });
    expect((await processEvent({ deps, eventId, now: NOW })).result).toBe("retry_scheduled");
    expect(await countsOf("dora")).toMatchObject({ totalEmailsSent: 1, totalPushesSent: 0 });
    const retryAt = NOW + 10 * 60_000;
    expect((await processEvent({ deps, eventId, now: retryAt })).result).toBe("processed");
    expect(services.catcher.emails).toHaveLength(1);
    expect(await countsOf("dora")).toMatchObject({
      totalEmailsSent: 1,
      lastEmailSentAt: NOW,
      totalPushesSent: 1,
      lastPushSentAt: retryAt,
    });
  });

  it("counts no email for a user who turned email off", async () => {
    const { eventId } = await sentMessage("eve", { emailNotifications: false });
    await processEvent({ deps: realEventDeps({ db, catcher: services.catcher }), eventId, now: NOW });
    expect(services.catcher.emails).toHaveLength(0);
    const state = await createFirestoreProcessingStateStore(db).getState("eve");
    expect(state === null ? 0 : deliveryCounts(state, NOW).totalEmailsSent).toBe(0);
  });

  it("today's count starts at 0 on a new UTC day, and the day before's field is dropped", async () => {
    const yesterday = NOW - DAY;
    const first = await sentMessage("fay", { slot: "1", at: yesterday });
    const deps = realEventDeps({ db, catcher: services.catcher });
    await processEvent({ deps, eventId: first.eventId, now: yesterday });
    expect(await countsOf("fay", NOW)).toMatchObject({ totalEmailsSent: 1, emailsSentToday: 0 });
    const second = await sentMessage("fay", { slot: "2", at: NOW });
    await processEvent({ deps, eventId: second.eventId, now: NOW });
    expect(await countsOf("fay", NOW)).toMatchObject({
      totalEmailsSent: 2,
      emailsSentToday: 1,
      lastEmailSentAt: NOW,
    });
    const stored = (await db.collection("userProcessingState").doc("fay").get()).data() ?? {};
    expect(stored[deliveryDayField("emails", yesterday)]).toBeUndefined();
    expect(stored[deliveryDayField("emails", NOW)]).toBe(1);
  });
});
