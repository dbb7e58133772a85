/**
 * The delivery loop on the emulator with the real Resend SDK and the mail catcher: the one-click
 * unsubscribe headers on each email, the suppression list the outbox consults, and what Resend's
 * webhooks write (applied once per delivery id).
 */
import type { Firestore } from "firebase-admin/firestore";
import { beforeEach, describe, expect, it } from "vitest";
import { createFirestoreDeliveryFeedbackStore } from "@/adapters/firestore/delivery-feedback-store";
import { engagementFigures } from "@/adapters/firestore/engagement-store";
import { recordMessageFeedback } from "@/adapters/firestore/message-feedback-store";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { liftSuppression, listSuppressions } from "@/adapters/firestore/suppression-store";
import { suppressionIdFor } from "@/core/email-address";
import { signUnsubscribeToken } from "@/core/unsubscribe";
import { processEvent } from "@/pipeline/outbox/process-event";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import { applyResendWebhook } from "@/pipeline/resend-webhooks";
import { checkUnsubscribeLink, unsubscribeWithLink } from "@/pipeline/unsubscribe";
import { putDocuments } from "../support/firestore";
import { queriesMissingIndexes, readIndexes } from "../support/index-coverage";
import { realEventDeps } from "../support/processor";
import { putSentMessage } from "../support/sent-message";
import { localServicesForFile } from "../support/stack";

const UNSUBSCRIBE = {
  secret: "unsubscribe-secret-0123456789abcdef",
  pageUrl: "https://coach.example/unsubscribe",
  mailto: "unsubscribe@coach.example",
};
const NOW = Date.now();

const services = localServicesForFile();
let db: Firestore;
let projectId: string;

beforeEach(() => {
  ({ db, projectId } = services.handle.freshProject("delivery"));
  services.catcher.emails.length = 0;
  services.catcher.attempts.length = 0;
});

/** A user and a sent, journaled message with its pending delivery event. */
async function sentMessage(uid: string, { email = `${uid}@example.com`, slot = "1" } = {}) {
  await putDocuments(db, "users", [
    [
      uid,
      {
        email,
        timezone: "UTC",
        coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
        nextCoachingMessageDue: NOW + 3_600_000,
      },
    ],
  ]);
  return putSentMessage(db, { uid, slot, at: NOW });
}

async function messageOf(messageId: string): Promise<StoredMessage> {
  return (await db.collection("coachingMessages").doc(messageId).get()).data() as StoredMessage;
}

describe("outbox: one-click unsubscribe headers", () => {
  it("puts List-Unsubscribe (URL and mailto) and List-Unsubscribe-Post on the email, and the link in its footer", async () => {
    const { eventId } = await sentMessage("ada");
    const deps = realEventDeps({ db, catcher: services.catcher, unsubscribe: UNSUBSCRIBE });
    expect((await processEvent({ deps, eventId, now: NOW })).result).toBe("processed");
    const token = signUnsubscribeToken({ secret: UNSUBSCRIBE.secret, uid: "ada", email: "ada@example.com" });
    const url = `${UNSUBSCRIBE.pageUrl}?token=${encodeURIComponent(token)}`;
    expect(services.catcher.emails).toHaveLength(1);
    expect(services.catcher.emails[0]?.headers).toEqual({
      "List-Unsubscribe": `<${url}>, <mailto:unsubscribe@coach.example?subject=unsubscribe>`,
      "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    });
    expect(services.catcher.emails[0]?.html).toContain(url.replaceAll("&", "&amp;"));
  });

  it("sends no unsubscribe header or link while UNSUBSCRIBE_SECRET is unset", async () => {
    const { eventId } = await sentMessage("bea");
    await processEvent({ deps: realEventDeps({ db, catcher: services.catcher }), eventId, now: NOW });
    expect(services.catcher.emails[0]?.headers).toBeUndefined();
    expect(services.catcher.emails[0]?.html).not.toContain("unsubscribe");
  });

  it("records Resend's email id as a top-level field, for the webhooks to find the message by", async () => {
    const { eventId, messageId } = await sentMessage("cy");
    await processEvent({ deps: realEventDeps({ db, catcher: services.catcher }), eventId, now: NOW });
    const message = await messageOf(messageId);
    expect(message.emailProviderId).toBe(services.catcher.emails[0]?.id);
    expect(message.delivery.email.providerId).toBe(services.catcher.emails[0]?.id);
  });
});

describe("outbox: the suppression list", () => {
  it("never emails a suppressed address and records why on the message", async () => {
    const { eventId, messageId } = await sentMessage("dan", { email: "Dan@Example.com" });
    await putDocuments(db, "emailSuppressions", [
      [
        suppressionIdFor("dan@example.com"),
        {
          address: "dan@example.com",
          reason: "bounce",
          suppressedAt: NOW - 1_000,
          detail: "Permanent/General",
        },
      ],
    ]);
    expect(
      (await processEvent({ deps: realEventDeps({ db, catcher: services.catcher }), eventId, now: NOW }))
        .result,
    ).toBe("processed");
    expect(services.catcher.attempts).toHaveLength(0);
    expect((await messageOf(messageId)).delivery.email).toMatchObject({
      status: "suppressed",
      providerId: null,
      error: expect.stringContaining("suppression list (bounce"),
    });
  });
});

describe("Resend webhooks: what a verified delivery writes", () => {
  const store = () => createFirestoreDeliveryFeedbackStore(db);
  const deliveredEmail = async (uid: string) => {
    const { eventId, messageId } = await sentMessage(uid);
    await processEvent({ deps: realEventDeps({ db, catcher: services.catcher }), eventId, now: NOW });
    const emailId = (await messageOf(messageId)).emailProviderId ?? "";
    return { messageId, emailId };
  };
  const event = (type: string, emailId: string, to: string, extra: Record<string, unknown> = {}) => ({
    type,
    created_at: new Date(NOW).toISOString(),
    data: { email_id: emailId, created_at: new Date(NOW).toISOString(), to: [to], ...extra },
  });

  it("a permanent bounce suppresses the address and is recorded on the message", async () => {
    const { messageId, emailId } = await deliveredEmail("eve");
    const outcome = await applyResendWebhook({
      store: store(),
      deliveryId: "msg_bounce1",
      payload: event("email.bounced", emailId, "eve@example.com", {
        bounce: { type: "Permanent", subType: "General", message: "no such mailbox" },
      }),
      now: NOW + 1_000,
    });
    expect(outcome.outcome).toBe("applied");
    const suppression = await db.doc(`emailSuppressions/${suppressionIdFor("eve@example.com")}`).get();
    expect(suppression.data()).toMatchObject({
      address: "eve@example.com",
      reason: "bounce",
      detail: "Permanent/General",
      uid: "eve",
      emailId,
    });
    expect((await messageOf(messageId)).emailEvents?.bounced).toEqual({
      firstAt: NOW + 1_000,
      lastAt: NOW + 1_000,
      detail: "Permanent/General",
    });
    expect((await db.doc(`coachingMessages/${messageId}`).get()).get("emailBouncedCount")).toBe(1);
  });

  it("a transient bounce is recorded but suppresses nothing", async () => {
    const { messageId, emailId } = await deliveredEmail("fay");
    await applyResendWebhook({
      store: store(),
      deliveryId: "msg_soft1",
      payload: event("email.bounced", emailId, "fay@example.com", {
        bounce: { type: "Transient", subType: "MailboxFull" },
      }),
      now: NOW,
    });
    expect((await db.collection("emailSuppressions").get()).size).toBe(0);
    expect((await messageOf(messageId)).emailEvents?.bounced?.detail).toBe("Transient/MailboxFull");
  });

  it("a complaint suppresses the address and turns the user's email off", async () => {
    const { emailId } = await deliveredEmail("gus");
    await applyResendWebhook({
      store: store(),
      deliveryId: "msg_complaint1",
      payload: event("email.complained", emailId, "gus@example.com"),
      now: NOW,
    });
    const user = (await db.doc("users/gus").get()).data();
    expect(user?.coachingConfig).toMatchObject({ emailNotifications: false, frequency: "daily" });
    expect(user?.emailOptOut).toEqual({ at: NOW, source: "complaint" });
    expect(
      (await db.doc(`emailSuppressions/${suppressionIdFor("gus@example.com")}`).get()).get("reason"),
    ).toBe("complaint");
  });

  it.each([
    ["no uid", {}],
    ["a uid no user document can have", { uid: "a/b" }],
  ])(
    "a complaint about a message with %s still suppresses the address, without a Firestore error",
    async (_case, owner) => {
      // A message document edited by hand: Resend would otherwise get 503s for a day and the
      // address would stay unsuppressed.
      await putDocuments(db, "coachingMessages", [
        ["junk_1", { id: "junk_1", status: "sent", emailProviderId: "em_junk", ...owner }],
      ]);
      const outcome = await applyResendWebhook({
        store: store(),
        deliveryId: "msg_junk_complaint",
        payload: event("email.complained", "em_junk", "junk@example.com"),
        now: NOW,
      });
      expect(outcome.outcome).toBe("applied");
      expect(
        (await db.doc(`emailSuppressions/${suppressionIdFor("junk@example.com")}`).get()).data(),
      ).toMatchObject({ reason: "complaint", uid: null });
    },
  );

  it("applies a delivery id once: the same delivery again writes nothing", async () => {
    const { messageId, emailId } = await deliveredEmail("hal");
    const delivered = event("email.delivered", emailId, "hal@example.com");
    await applyResendWebhook({ store: store(), deliveryId: "msg_dup", payload: delivered, now: NOW + 5 });
    const messageBefore = await messageOf(messageId);
    const again = await applyResendWebhook({
      store: store(),
      deliveryId: "msg_dup",
      payload: delivered,
      now: NOW + 9,
    });
    expect(again.outcome).toBe("duplicate");
    // The batch was sent (its claim's create() failed first), and changed nothing.
    expect(await messageOf(messageId)).toEqual(messageBefore);
    expect((await db.doc("resendWebhookDeliveries/msg_dup").get()).get("receivedAt")).toBe(NOW + 5);
    expect((await messageOf(messageId)).emailEvents?.delivered).toEqual({
      firstAt: NOW + 5,
      lastAt: NOW + 5,
      detail: null,
    });
    expect((await db.doc(`coachingMessages/${messageId}`).get()).get("emailDeliveredCount")).toBe(1);
  });

  it("keeps the first time and counts each new delivery of an event kind", async () => {
    const { messageId, emailId } = await deliveredEmail("ida");
    for (const [index, at] of [NOW + 10, NOW + 20].entries())
      await applyResendWebhook({
        store: store(),
        deliveryId: `msg_open${index}`,
        payload: event("email.opened", emailId, "ida@example.com"),
        now: at,
      });
    expect((await messageOf(messageId)).emailEvents?.opened).toEqual({
      firstAt: NOW + 10,
      lastAt: NOW + 20,
      detail: null,
    });
    expect((await db.doc(`coachingMessages/${messageId}`).get()).get("emailOpenedCount")).toBe(2);
  });

  it("asks for a retry of a young email it does not know yet, and ignores an old one or an unknown type", async () => {
    const young = await applyResendWebhook({
      store: store(),
      deliveryId: "msg_early",
      payload: event("email.delivered", "not-recorded-yet", "x@example.com"),
      now: NOW + 1_000,
    });
    expect(young.outcome).toBe("retry");
    const old = await applyResendWebhook({
      store: store(),
      deliveryId: "msg_old",
      payload: event("email.delivered", "someone-elses", "x@example.com"),
      now: NOW + 24 * 3_600_000,
    });
    expect(old.outcome).toBe("ignored");
    const unknown = await applyResendWebhook({
      store: store(),
      deliveryId: "msg_contact",
      payload: { type: "contact.created", data: { id: "c1" } },
      now: NOW,
    });
    expect(unknown.outcome).toBe("ignored");
    expect(services.handle.emulator.stats(projectId).writes).toBe(0);
  });
});

describe("one-click unsubscribe on the store", () => {
  it("turns email off once, answers the same when already off, and refuses another user's token", async () => {
    await sentMessage("jo");
    await sentMessage("kim");
    const token = signUnsubscribeToken({ secret: UNSUBSCRIBE.secret, uid: "jo", email: "jo@example.com" });
    const unsubscribe = (link: string) =>
      unsubscribeWithLink({ store: store(), secret: UNSUBSCRIBE.secret, token: link, now: NOW });
    const store = () => createFirestoreDeliveryFeedbackStore(db);
    expect(await unsubscribe(token)).toEqual({ valid: true, alreadyOff: false });
    expect((await db.doc("users/jo").get()).get("coachingConfig.emailNotifications")).toBe(false);
    const writesBefore = services.handle.emulator.stats(projectId).writes;
    expect(await unsubscribe(token)).toEqual({ valid: true, alreadyOff: true });
    // kim's uid with jo's signature: a forged token.
    const forged = `v1.${Buffer.from("kim").toString("base64url")}.${token.split(".")[2]}`;
    expect(await unsubscribe(forged)).toEqual({ valid: false });
    expect(services.handle.emulator.stats(projectId).writes).toBe(writesBefore);
    expect((await db.doc("users/kim").get()).get("coachingConfig.emailNotifications")).toBeUndefined();
  });

  it.each(["users/../x", "a/b", "..", "__reserved__"])(
    "refuses a token naming %j, which no document can have, without a Firestore error",
    async (uid) => {
      // Read before the signature can be checked: a junk uid must be refused, not reach Firestore.
      const junk = `v1.${Buffer.from(uid).toString("base64url")}.${"A".repeat(43)}`;
      const link = {
        store: createFirestoreDeliveryFeedbackStore(db),
        secret: UNSUBSCRIBE.secret,
        token: junk,
      };
      await expect(checkUnsubscribeLink(link)).resolves.toEqual({ valid: false });
      await expect(unsubscribeWithLink({ ...link, now: NOW })).resolves.toEqual({ valid: false });
    },
  );
});

describe("admin: the suppression list", () => {
  it("lists suppressions latest first, and lifting one lets the outbox email the address again", async () => {
    await putDocuments(db, "emailSuppressions", [
      [
        suppressionIdFor("old@example.com"),
        { address: "old@example.com", reason: "bounce", suppressedAt: NOW - 10 },
      ],
      [
        suppressionIdFor("lee@example.com"),
        { address: "lee@example.com", reason: "complaint", suppressedAt: NOW },
      ],
    ]);
    expect((await listSuppressions(db, { limit: 10 })).map((entry) => entry.address)).toEqual([
      "lee@example.com",
      "old@example.com",
    ]);
    expect(await liftSuppression(db, suppressionIdFor("lee@example.com"))).toBe(true);
    expect(await liftSuppression(db, suppressionIdFor("lee@example.com"))).toBe(false);
    const { eventId, messageId } = await sentMessage("lee");
    await processEvent({ deps: realEventDeps({ db, catcher: services.catcher }), eventId, now: NOW });
    expect((await messageOf(messageId)).delivery.email.status).toBe("sent");
    expect(services.catcher.emails.map((email) => email.to[0])).toEqual(["lee@example.com"]);
  });
});

describe("engagement figures", () => {
  it("counts, per rating and per type, the messages sent since a time that were delivered, opened, clicked and found helpful", async () => {
    const sent = (id: string, fields: Record<string, unknown>): [string, Record<string, unknown>] => [
      id,
      { id, uid: "u", status: "sent", sentAt: NOW, ...fields },
    ];
    await putDocuments(db, "coachingMessages", [
      sent("a", {
        effectivenessRating: 8,
        messageType: "check_in",
        emailDelivered: true,
        emailOpened: true,
        emailClicked: true,
        feedbackHelpful: true,
        pushDelivered: true,
      }),
      sent("b", {
        effectivenessRating: 8,
        messageType: "check_in",
        emailDelivered: true,
        emailOpened: true,
        feedbackHelpful: false,
      }),
      sent("c", { effectivenessRating: 8, messageType: "challenge", emailDelivered: true }),
      sent("d", { effectivenessRating: 6, messageType: "challenge" }),
      // Before the period: not counted.
      sent("old", {
        effectivenessRating: 8,
        messageType: "check_in",
        emailOpened: true,
        sentAt: NOW - 40 * 86_400_000,
      }),
      // Never sent: no sentAt.
      [
        "rejected",
        {
          id: "rejected",
          uid: "u",
          status: "rejected",
          sentAt: null,
          effectivenessRating: 8,
          messageType: "check_in",
        },
      ],
    ]);
    const figures = await engagementFigures(db, { since: NOW - 30 * 86_400_000 });
    expect(figures.byRating.find((row) => row.rating === 8)).toEqual({
      rating: 8,
      sent: 3,
      delivered: 3,
      opened: 2,
      clicked: 1,
      helpful: 1,
      rated: 2,
      pushDelivered: 1,
    });
    expect(figures.byRating.find((row) => row.rating === 6)).toMatchObject({ sent: 1, opened: 0 });
    expect(figures.byType.find((row) => row.messageType === "check_in")).toMatchObject({
      sent: 2,
      opened: 2,
      helpful: 1,
    });
    expect(figures.byType.find((row) => row.messageType === "challenge")).toMatchObject({
      sent: 2,
      delivered: 1,
    });
    expect(
      JSON.stringify(queriesMissingIndexes(services.handle.emulator.recordedQueries(), readIndexes())),
    ).toEqual("[]");
  });

  it("a webhook's delivered, opened and clicked set the flags the figures count by", async () => {
    const { eventId, messageId } = await sentMessage("max");
    await processEvent({ deps: realEventDeps({ db, catcher: services.catcher }), eventId, now: NOW });
    const emailId = (await messageOf(messageId)).emailProviderId ?? "";
    for (const type of ["email.delivered", "email.opened", "email.clicked"])
      await applyResendWebhook({
        store: createFirestoreDeliveryFeedbackStore(db),
        deliveryId: `msg_${type.replace(".", "_")}`,
        payload: { type, data: { email_id: emailId, to: ["max@example.com"] } },
        now: NOW,
      });
    expect((await db.doc(`coachingMessages/${messageId}`).get()).data()).toMatchObject({
      emailDelivered: true,
      emailOpened: true,
      emailClicked: true,
    });
  });
});

describe("feedback flows back into the context", () => {
  it("the user's feedback and an opened email come back with the recent messages the context reads", async () => {
    await putDocuments(db, "coachingMessages", [
      [
        "nia_1",
        {
          id: "nia_1",
          uid: "nia",
          status: "sent",
          wasSent: true,
          messageType: "check_in",
          messageContent: "How did the week go?",
          createdAt: NOW - 1_000,
          sentAt: NOW - 1_000,
          emailOpened: true,
        },
      ],
      [
        "nia_2",
        {
          id: "nia_2",
          uid: "nia",
          status: "sent",
          wasSent: true,
          messageType: "challenge",
          messageContent: "Try ten minutes.",
          createdAt: NOW,
          sentAt: NOW,
        },
      ],
    ]);
    expect(
      await recordMessageFeedback(db, {
        uid: "nia",
        messageId: "nia_1",
        helpful: true,
        note: null,
        now: NOW,
      }),
    ).toBe("recorded");
    expect(
      await recordMessageFeedback(db, {
        uid: "nia",
        messageId: "nia_1",
        helpful: false,
        note: null,
        now: NOW,
      }),
    ).toBe("already_given");
    const recent = await createFirestoreProcessorStore(db).listRecentMessages({ uid: "nia", limit: 10 });
    expect(recent).toEqual([
      { messageType: "challenge", messageContent: "Try ten minutes.", createdAt: NOW },
      {
        messageType: "check_in",
        messageContent: "How did the week go?",
        createdAt: NOW - 1_000,
        feedbackHelpful: true,
        emailOpened: true,
      },
    ]);
  });
});
