/**
 * Crisis-aware coaching through the real pipeline on the emulator (docs/generation.md "Safety"):
 * the generation call's risk assessment recorded on every attempt, no challenge or reminder under
 * risk whatever the model answers, the helpline text appended in the user's language, the
 * operator's flag on the run's end write, and the usual schedule kept after an acute run. The LLM
 * is the sandbox, which reads the fixture corpus's cue phrases (test/fixtures/risk/corpus.ts).
 */
import type { Firestore } from "firebase-admin/firestore";
import { beforeEach, describe, expect, it } from "vitest";
import { createFirestoreDashboardStore } from "@/adapters/firestore/admin/dashboard-store";
import { createFirestoreAlertSignals, createFirestoreAlertStore } from "@/adapters/firestore/alert-store";
import { emailStrings } from "@/core/email-strings";
import { DEFAULT_SAFETY_RESOURCES, RISK_RESTRICTED_TYPES } from "@/core/risk";
import { nextDueAfterSuccess, retryDueAt } from "@/core/schedule";
import { evaluateAlerts } from "@/pipeline/evaluate-alerts";
import type { EventProcessorDeps } from "@/pipeline/outbox/process-event";
import { acceptUserRun, type ProcessorDeps, recoverFromError, runClaimedSlot } from "@/pipeline/process-user";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import { processUser } from "../../../scripts/support/process-user";
import { riskFixture } from "../../fixtures/risk/corpus";
import { drainEvents, realEventDeps, realProcessorDeps, seedDueUser } from "../../support/processor";
import { localServicesForFile } from "../../support/stack";

const services = localServicesForFile();
let db: Firestore;
let deps: ProcessorDeps;
let events: EventProcessorDeps;

const RESOURCES = {
  en: "If you are in crisis, call or text 988 (US) or your local emergency number.",
  es: "Si estás en crisis, llama al 024 (España) o al número de emergencias local.",
  default: "If you are in crisis, call your local emergency number.",
};

beforeEach(() => {
  ({ db } = services.handle.freshProject("processor-risk"));
  deps = realProcessorDeps({
    db,
    sandbox: services.sandbox,
    env: { SAFETY_RESOURCES: JSON.stringify(RESOURCES) },
  });
  events = realEventDeps({ db, catcher: services.catcher });
  services.sandbox.requests.length = 0;
  services.catcher.emails.length = 0;
});

const NOW = Date.now();

async function messagesOf(uid: string): Promise<StoredMessage[]> {
  const snapshot = await db.collection("coachingMessages").where("uid", "==", uid).get();
  return snapshot.docs
    .map((document) => document.data() as StoredMessage)
    .sort((first, second) => first.generationAttempt - second.generationAttempt);
}

async function seedFixtureUser(uid: string, fixtureId: string) {
  await seedDueUser(db, { uid, now: NOW, entries: riskFixture(fixtureId).entries });
}

const generated = (fields: Record<string, unknown>) => ({
  kind: "content" as const,
  content: JSON.stringify({
    messageType: "challenge",
    messageContent: "Here is a challenge for this week: write down one thing you will finish by Friday.",
    pushNotificationText: "A challenge for your week",
    riskLevel: "acute",
    riskReason: "mentions wanting to end their life",
    ...fields,
  }),
});

describe("crisis-aware coaching, through the pipeline", () => {
  it("sends a user with an acute-risk entry a supportive message ending with the configured helpline, flags the operator, and never quotes the entry", async () => {
    const fixture = riskFixture("en-acute");
    await seedFixtureUser("alex", fixture.id);
    const result = await processUser({ deps, uid: "alex", now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "sent" } });
    await drainEvents(events, NOW);

    const messages = await messagesOf("alex");
    const sent = messages.find((message) => message.wasSent);
    expect(sent).toMatchObject({ riskLevel: "acute", riskReason: expect.stringMatching(/\S/) });
    expect(RISK_RESTRICTED_TYPES).not.toContain(sent?.messageType);
    expect(sent?.messageContent.endsWith(`\n\n${RESOURCES.en}`)).toBe(true);
    for (const message of messages) {
      expect(message.riskLevel).toBe("acute");
      expect(message.messageContent.toLowerCase()).not.toContain(fixture.distinctivePhrase.toLowerCase());
    }

    // The operator's flag rides on the run's end write.
    const state = (await db.doc("userProcessingState/alex").get()).data();
    expect(state).toMatchObject({
      lastAcuteRiskAt: NOW,
      lastAcuteRiskSlotId: sent?.slotId,
      lastAcuteRiskOutcome: "sent",
    });

    // The reason is for operators: not in the journal entry, the email or the push text.
    const entry = (await db.doc(`users/alex/journalEntries/coaching_${sent?.slotId}`).get()).data();
    // Markdown-escaped there: "988 \\(US\\)".
    expect(entry?.content).toContain("or your local emergency number.");
    expect(JSON.stringify(entry)).not.toContain(sent?.riskReason);
    const email = services.catcher.emails.find((caught) => caught.to[0] === "alex@example.com");
    expect(email?.text).toContain("988");
    expect(`${email?.html}${email?.text}${email?.subject}`).not.toContain(sent?.riskReason);
    expect(sent?.pushNotificationText ?? "").not.toContain(sent?.riskReason);

    // Both prompts ask for care; the sandbox's stand-in saw the cue.
    const [generation] = services.sandbox.requests.map((request) => JSON.stringify(request.body.messages));
    expect(generation).toContain("riskLevel");
  });

  it("regenerates a challenge the model wrote under elevated risk, then relabels a second one check_in for the scorer, told the risk: never sent as a challenge", async () => {
    await seedFixtureUser("blair", "en-elevated");
    services.sandbox.queueFaults([
      generated({ riskLevel: "elevated", riskReason: "sounds hopeless" }),
      generated({
        messageContent: "Another push: list three tasks and do the hardest one first today.",
        riskLevel: "elevated",
        riskReason: "sounds hopeless",
      }),
    ]);
    const result = await processUser({ deps, uid: "blair", now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "sent" } });

    const [first, second] = await messagesOf("blair");
    expect(first).toMatchObject({
      status: "rejected",
      messageType: "challenge",
      riskLevel: "elevated",
      failureReason: expect.stringContaining("not sent when the entries suggest"),
    });
    expect(second).toMatchObject({
      wasSent: true,
      messageType: "check_in",
      riskLevel: "elevated",
      generationAttempt: 2,
    });
    expect(second?.messageContent.endsWith(RESOURCES.en)).toBe(true);
    const state = (await db.doc("userProcessingState/blair").get()).data();
    expect(JSON.stringify(state?.actionHistory)).toContain("risk_type_relabelled");
    // The scorer is told the run's level by the engine, outside <user_data>.
    const scoring = JSON.stringify(services.sandbox.requests.at(-1)?.body.messages);
    expect(scoring).toContain('<risk_assessment level=\\"elevated\\"/>');
  });

  it("refuses a second challenge under acute risk rather than sending its content relabelled: nothing sent, the usual next time", async () => {
    await seedFixtureUser("bo", "en-acute");
    services.sandbox.queueFaults([
      generated({}),
      generated({ messageContent: "Another push: list three tasks and do the hardest one first today." }),
    ]);
    const result = await processUser({ deps, uid: "bo", now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "gate_failed" } });
    const messages = await messagesOf("bo");
    expect(messages.some((message) => message.wasSent)).toBe(false);
    expect(messages[1]).toMatchObject({
      status: "rejected",
      messageType: "challenge",
      riskLevel: "acute",
      generationAttempt: 2,
    });
    const user = (await db.doc("users/bo").get()).data();
    const settings = {
      timezone: user?.timezone,
      timePreference: user?.coachingConfig.timePreference,
      frequency: user?.coachingConfig.frequency,
    };
    expect(user?.nextCoachingMessageDue).toBe(nextDueAfterSuccess({ now: NOW, ...settings }));
    // Two generation calls, no scoring: the refused draft never reaches the scorer.
    expect(services.sandbox.requests).toHaveLength(2);
  });

  it("keeps the run at the highest level its drafts assessed: a regeneration that reads no risk does not lower it", async () => {
    await seedFixtureUser("casey", "en-neutral");
    services.sandbox.queueFaults([
      generated({ messageType: "reminder", riskLevel: "elevated", riskReason: "sounds exhausted" }),
      generated({ messageType: "encouragement", riskLevel: "none", riskReason: "" }),
    ]);
    await processUser({ deps, uid: "casey", now: NOW });
    const sent = (await messagesOf("casey")).find((message) => message.wasSent);
    expect(sent).toMatchObject({
      messageType: "encouragement",
      riskLevel: "elevated",
      riskReason: "sounds exhausted",
    });
    expect(sent?.messageContent.endsWith(RESOURCES.en)).toBe(true);
    // Elevated is not flagged: only acute is.
    expect((await db.doc("userProcessingState/casey").get()).get("lastAcuteRiskAt")).toBeUndefined();
  });

  it("appends the helpline in the user's language: the configured Spanish text, or the neutral Spanish default when SAFETY_RESOURCES is unset", async () => {
    await seedFixtureUser("dario", "es-elevated");
    await processUser({ deps, uid: "dario", now: NOW });
    const configured = (await messagesOf("dario")).find((message) => message.wasSent);
    expect(configured).toMatchObject({ language: "es", riskLevel: "elevated" });
    expect(configured?.messageContent.endsWith(RESOURCES.es)).toBe(true);

    const unset = realProcessorDeps({ db, sandbox: services.sandbox });
    await seedFixtureUser("elena", "es-acute");
    await processUser({ deps: unset, uid: "elena", now: NOW });
    const neutral = (await messagesOf("elena")).find((message) => message.wasSent);
    expect(neutral).toMatchObject({ language: "es", riskLevel: "acute" });
    expect(neutral?.messageContent.endsWith(DEFAULT_SAFETY_RESOURCES.es as string)).toBe(true);
    expect(neutral?.messageContent.toLowerCase()).not.toContain(riskFixture("es-acute").distinctivePhrase);
  });

  it("appends the region's helpline when the user's locale names the message's language", async () => {
    const regional = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      env: {
        SAFETY_RESOURCES: JSON.stringify({ "en-US": "Call or text 988.", "en-GB": "Samaritans 116 123." }),
      },
    });
    await seedFixtureUser("gwen", "en-acute");
    await db.doc("users/gwen").update({ locale: "en-GB" });
    await processUser({ deps: regional, uid: "gwen", now: NOW });
    const sent = (await messagesOf("gwen")).find((message) => message.wasSent);
    expect(sent).toMatchObject({ language: "en", riskLevel: "acute" });
    expect(sent?.messageContent.endsWith("\n\nSamaritans 116 123.")).toBe(true);
  });

  it("leaves a neutral or stressed user's message as it was: no helpline, no flag, risk none", async () => {
    for (const [uid, fixtureId] of [
      ["fran", "en-neutral"],
      ["gil", "en-stressed"],
      ["hana", "de-neutral"],
    ] as const) {
      await seedFixtureUser(uid, fixtureId);
      await processUser({ deps, uid, now: NOW });
      const [message] = await messagesOf(uid);
      expect(message).toMatchObject({ wasSent: true, riskLevel: "none", riskReason: null });
      expect(message?.messageContent).not.toContain("988");
      expect(message?.messageContent).not.toContain(DEFAULT_SAFETY_RESOURCES[message?.language ?? "en"]);
      expect((await db.doc(`users/${uid}`).get()).get("nextCoachingMessageDue")).toBeGreaterThan(NOW);
      expect((await db.doc(`userProcessingState/${uid}`).get()).get("lastAcuteRiskAt")).toBeUndefined();
    }
  });

  it("keeps the usual next time after an acute run that sends nothing: no earlier retry because of risk", async () => {
    await seedFixtureUser("ines", "de-acute");
    services.sandbox.queueFaults([
      { kind: "pass" },
      {
        kind: "content",
        content: JSON.stringify({
          effectivenessRating: 2,
          recommendedAction: "SKIP_MESSAGE",
          reasoning: "not supportive enough",
          improvedMessage: "",
        }),
      },
    ]);
    const result = await processUser({ deps, uid: "ines", now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "gate_failed" } });
    const user = (await db.doc("users/ines").get()).data();
    const settings = {
      timezone: user?.timezone,
      timePreference: user?.coachingConfig.timePreference,
      frequency: user?.coachingConfig.frequency,
    };
    const due = user?.nextCoachingMessageDue as number;
    expect(due).toBe(nextDueAfterSuccess({ now: NOW, ...settings }));
    expect(due).toBeGreaterThan(retryDueAt({ now: NOW, frequency: settings.frequency }));
    expect((await db.doc("userProcessingState/ines").get()).data()).toMatchObject({
      lastAcuteRiskAt: NOW,
      // The operator's page says nothing was sent: it words the flag from this.
      lastAcuteRiskOutcome: "gate_failed",
    });
  });

  it("replaces the push text (and so the email subject) under risk with a neutral line in the user's language: a quote of the entry never goes out", async () => {
    const fixture = riskFixture("en-acute");
    await seedFixtureUser("pat", fixture.id);
    services.sandbox.queueFaults([
      generated({
        messageType: "check_in",
        messageContent:
          "It sounds like things have been very heavy. You do not have to carry it alone; is there someone you trust?",
        pushNotificationText: `You wrote "${fixture.distinctivePhrase}"`,
      }),
    ]);
    const result = await processUser({ deps, uid: "pat", now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "sent" } });
    await drainEvents(events, NOW);
    const sent = (await messagesOf("pat")).find((message) => message.wasSent);
    expect(sent?.pushNotificationText).toBe(emailStrings("en").defaultSubject);
    const email = services.catcher.emails.find((caught) => caught.to[0] === "pat@example.com");
    expect(email?.subject).toBe(emailStrings("en").defaultSubject);
    expect(`${email?.html}${email?.subject}`).not.toContain(fixture.distinctivePhrase);
  });

  it("keeps the usual next time when an acute run throws before approval: no earlier retry because of risk", async () => {
    await seedFixtureUser("zed", "en-acute");
    // The acute challenge is regenerated; storing the rejected attempt throws (Firestore unavailable).
    services.sandbox.queueFaults([generated({})]);
    const throwing: ProcessorDeps = {
      ...deps,
      store: {
        ...deps.store,
        saveMessage: async () => {
          throw new Error("14 UNAVAILABLE");
        },
      },
    };
    const accepted = await acceptUserRun({ deps: throwing, uid: "zed", now: NOW });
    if (accepted.kind !== "claimed") throw new Error(accepted.kind);
    const { claim } = accepted;
    const error = await runClaimedSlot({ deps: throwing, claim, now: NOW }).then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(Error);
    const outcome = await recoverFromError({ deps, claim, now: NOW, error });
    expect(outcome).toMatchObject({ outcome: "generation_failed" });
    const user = (await db.doc("users/zed").get()).data();
    const settings = {
      timezone: user?.timezone,
      timePreference: user?.coachingConfig.timePreference,
      frequency: user?.coachingConfig.frequency,
    };
    expect(user?.nextCoachingMessageDue).toBe(nextDueAfterSuccess({ now: NOW, ...settings }));
  });

  it("counts acute-risk attempts for the dashboard (24 h, 7 days) and fires the acute_risk alert, with a count and no user", async () => {
    await seedFixtureUser("jo", "en-acute");
    await seedFixtureUser("kim", "en-neutral");
    for (const uid of ["jo", "kim"]) await processUser({ deps, uid, now: NOW });
    const acute = (await messagesOf("jo")).filter((message) => message.riskLevel === "acute").length;
    expect(acute).toBeGreaterThanOrEqual(1);

    const { acuteRisk } = await createFirestoreDashboardStore(db).dashboard({
      now: NOW + 60_000,
      days: 1,
      hours: 1,
      runCount: 1,
    });
    expect(acuteRisk).toMatchObject({ last24h: acute, last7d: acute });
    // The operator finds the users: the latest acute attempts, newest first, each naming its user.
    expect(acuteRisk.recent).toHaveLength(acute);
    for (const attempt of acuteRisk.recent) {
      expect(attempt).toEqual({ uid: "jo", slotId: expect.any(String), createdAt: NOW });
    }

    const signals = createFirestoreAlertSignals(db, { llmCeiling: null });
    expect((await signals.read(NOW + 60_000)).acuteRiskLastHour).toEqual({ ok: true, value: acute });
    const report = await evaluateAlerts({
      store: createFirestoreAlertStore(db),
      signals,
      now: NOW + 60_000,
      posting: null,
    });
    expect(report.fired.some((id) => id.startsWith("acute_risk_"))).toBe(true);
    const [alert] = (await createFirestoreAlertStore(db).listAlerts({ limit: 20 })).filter(
      (candidate) => candidate.condition === "acute_risk",
    );
    expect(alert?.summary).not.toContain("jo");
    // An hour later, no new acute attempt: it resolves (the user stays flagged on their page).
    const later = await evaluateAlerts({
      store: createFirestoreAlertStore(db),
      signals,
      now: NOW + 2 * 3_600_000,
      posting: null,
    });
    expect(later.resolved.some((id) => id.startsWith("acute_risk_"))).toBe(true);
  });
});
