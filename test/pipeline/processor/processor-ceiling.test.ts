/**
 * The global LLM ceiling (LLM_CALLS_PER_MINUTE) in the processor as production wires it: a run
 * reserves its expected calls once, before its first call; a run that finds the ceiling spent is
 * a deferral (no call, no attempt stored, nothing counted against the user) and the user is due
 * again early in the next minute. The ceiling here is a fake of the port; its adapters have their
 * own contract tests.
 */
import { randomBytes } from "node:crypto";
import type { Firestore } from "firebase-admin/firestore";
import { beforeEach, describe, expect, it } from "vitest";
import { createFirestoreUserKeyStore } from "@/adapters/firestore/user-key-store";
import { requireKeyring } from "@/config";
import { newEvent } from "@/core/events";
import { normaliseProcessingState, type ProcessingState } from "@/core/processing-state";
import type { CeilingDecision, LlmCallCeiling } from "@/pipeline/llm-limit-ports";
import { processEvent } from "@/pipeline/outbox/process-event";
import { CEILING_JITTER_MS, ceilingJitterMs } from "@/pipeline/process-user";
import { firestoreProcessorStorage, wireProcessor } from "@/services/processor";
import { processUser } from "../../../scripts/support/process-user";
import { putDocuments } from "../../support/firestore";
import { realEventDeps, realProcessorDeps, seedDueUser, testConfig } from "../../support/processor";
import { localServicesForFile } from "../../support/stack";

const services = localServicesForFile();
let db: Firestore;

beforeEach(() => {
  ({ db } = services.handle.freshProject("ceiling"));
  services.sandbox.requests.length = 0;
});

// Mid-minute, so "the next minute" is unambiguous.
const NOW = Math.floor(Date.now() / 60_000) * 60_000 + 20_000;
const NEXT_MINUTE = Math.floor(NOW / 60_000) * 60_000 + 60_000;

/** A ceiling of `perMinute` calls a minute, counting what it admitted; `reservations` records every ask. */
function fakeCeiling(perMinute: number) {
  const used = new Map<number, number>();
  const reservations: { calls: number; now: number; seed: string }[] = [];
  const ceiling: LlmCallCeiling = {
    callsPerMinute: perMinute,
    async reserve({ calls, now, seed }): Promise<CeilingDecision> {
      reservations.push({ calls, now, seed });
      const minute = Math.floor(now / 60_000) * 60_000;
      const spent = used.get(minute) ?? 0;
      if (spent + calls > perMinute) {
        return { admitted: false, retryAt: minute + 60_000, reason: `${perMinute} LLM calls a minute used` };
      }
      used.set(minute, spent + calls);
      return { admitted: true };
    },
  };
  return { ceiling, reservations, spend: (minute: number) => used.set(minute, perMinute) };
}

async function stateOf(uid: string): Promise<ProcessingState> {
  return normaliseProcessingState(
    uid,
    (await db.doc(`userProcessingState/${uid}`).get()).data() as Partial<ProcessingState>,
  );
}

async function attemptsOf(uid: string) {
  return (await db.collection("coachingMessages").where("uid", "==", uid).get()).docs;
}

describe("the global LLM ceiling in the processor", () => {
  it("a run that finds the ceiling spent makes no call, stores no attempt, counts nothing against the user, and leaves them due early in the next minute", async () => {
    const uid = "deferred";
    await seedDueUser(db, { uid, now: NOW });
    const { ceiling, reservations, spend } = fakeCeiling(10);
    spend(Math.floor(NOW / 60_000) * 60_000);
    const deps = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      storage: { ceiling },
      suspension: { maxConsecutiveFailures: 2, suspensionMs: 24 * 3_600_000 },
    });

    // More runs than the suspension limit: a deferral never moves the user towards suspension.
    for (let run = 0; run < 3; run += 1) {
      const result = await processUser({ deps, uid, now: NOW + run, bypassChecks: true });
      expect(result).toMatchObject({
        kind: "processed",
        result: { outcome: "ceiling_reached", messageGenerated: false },
      });
    }
    expect(reservations.length).toBe(3);
    expect(services.sandbox.requests).toHaveLength(0);
    expect(await attemptsOf(uid)).toHaveLength(0);
    const state = await stateOf(uid);
    expect(state.consecutiveFailures).toBe(0);
    expect(state.unfinishedRuns).toBe(0);
    expect(state.status).not.toBe("suspended");
    const user = (await db.doc(`users/${uid}`).get()).data() ?? {};
    expect(user.suspendUntil ?? null).toBeNull();
    expect(user.nextCoachingMessageDue).toBe(NEXT_MINUTE + ceilingJitterMs(uid));
    expect(user.nextCoachingMessageDue).toBeLessThan(NEXT_MINUTE + CEILING_JITTER_MS);
  });

  it("a ceiling whose storage fails defers the run like a spent one: no call, no failure counted, due early in the next minute", async () => {
    const uid = "ceiling-down";
    await seedDueUser(db, { uid, now: NOW });
    const failing: LlmCallCeiling = {
      callsPerMinute: 10,
      reserve: async () => {
        throw new Error("unavailable:firestore reserve LLM calls failed");
      },
    };
    const deps = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      storage: { ceiling: failing },
      suspension: { maxConsecutiveFailures: 2, suspensionMs: 24 * 3_600_000 },
    });
    for (let run = 0; run < 3; run += 1) {
      const result = await processUser({ deps, uid, now: NOW + run, bypassChecks: true });
      expect(result).toMatchObject({
        kind: "processed",
        result: { outcome: "ceiling_reached", messageGenerated: false },
      });
    }
    expect(services.sandbox.requests).toHaveLength(0);
    expect(await attemptsOf(uid)).toHaveLength(0);
    const state = await stateOf(uid);
    expect(state.consecutiveFailures).toBe(0);
    expect(state.status).not.toBe("suspended");
    const user = (await db.doc(`users/${uid}`).get()).data() ?? {};
    expect(user.nextCoachingMessageDue).toBe(NEXT_MINUTE + ceilingJitterMs(uid));
  });

  it("a ceiling whose storage fails is reported to operators at each refusal, not only deferred in silence", async () => {
    // Deferred users count nothing and record no error: without a warning an outage of the
    // ceiling's storage (or a rule or index that breaks it) stops every run on the engine's key
    // with nothing in the error logs.
    const uid = "ceiling-down-loud";
    await seedDueUser(db, { uid, now: NOW });
    const failing: LlmCallCeiling = {
      callsPerMinute: 10,
      reserve: async () => {
        throw new Error("unavailable:firestore reserve LLM calls failed");
      },
    };
    const warnings: { message: string; context: Record<string, unknown> }[] = [];
    const config = testConfig({ sandbox: services.sandbox });
    const deps = wireProcessor({
      config,
      storage: { ...firestoreProcessorStorage(db, config), ceiling: failing },
      onStep: () => undefined,
      warn: (message, context) => warnings.push({ message, context }),
    });
    const result = await processUser({ deps, uid, now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "ceiling_reached" } });
    expect(warnings).toEqual([
      {
        message: expect.stringContaining("LLM ceiling unavailable"),
        context: expect.objectContaining({ uid, error: expect.stringContaining("reserve LLM calls failed") }),
      },
    ]);
  });

  it("reserves once per run, before the first call, the calls it expects (generation and scoring)", async () => {
    const uid = "counted";
    await seedDueUser(db, { uid, now: NOW });
    const { ceiling, reservations } = fakeCeiling(100);
    const deps = realProcessorDeps({ db, sandbox: services.sandbox, storage: { ceiling } });
    const result = await processUser({ deps, uid, now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "sent" } });
    expect(reservations).toEqual([{ calls: 2, now: NOW, seed: uid }]);
    expect(services.sandbox.requests).toHaveLength(2);
  });

  it("reserves the insights refresh's call with the others when the insights are stale", async () => {
    const uid = "stale";
    await seedDueUser(db, { uid, now: NOW, insightsUpToDate: false });
    const { ceiling, reservations } = fakeCeiling(100);
    const deps = realProcessorDeps({ db, sandbox: services.sandbox, storage: { ceiling } });
    await processUser({ deps, uid, now: NOW });
    expect(reservations).toEqual([{ calls: 3, now: NOW, seed: uid }]);
    expect(services.sandbox.requests).toHaveLength(3);
  });

  it("a deferred user is processed normally once the minute has passed", async () => {
    const uid = "patient";
    await seedDueUser(db, { uid, now: NOW });
    const { ceiling, spend } = fakeCeiling(10);
    spend(Math.floor(NOW / 60_000) * 60_000);
    const deps = realProcessorDeps({ db, sandbox: services.sandbox, storage: { ceiling } });
    const deferred = await processUser({ deps, uid, now: NOW });
    expect(deferred).toMatchObject({ result: { outcome: "ceiling_reached" } });
    const dueAgain = (await db.doc(`users/${uid}`).get()).get("nextCoachingMessageDue") as number;

    const later = await processUser({ deps, uid, now: dueAgain });
    expect(later).toMatchObject({ kind: "processed", result: { outcome: "sent", messageGenerated: true } });
    expect(services.sandbox.requests).toHaveLength(2);
    expect((await stateOf(uid)).consecutiveFailures).toBe(0);
  });

  it("a run on the user's own key takes nothing from the ceiling: their key is under their provider's limits", async () => {
    const uid = "own-key";
    await seedDueUser(db, { uid, now: NOW });
    const { ceiling, reservations, spend } = fakeCeiling(10);
    spend(Math.floor(NOW / 60_000) * 60_000);
    const env = { ENCRYPTION_KEY: randomBytes(32).toString("base64") };
    await createFirestoreUserKeyStore(
      db,
      requireKeyring(testConfig({ sandbox: services.sandbox, env })),
    ).save({
      uid,
      apiKey: "sk-or-v1-own-key-000000000000000042",
      now: NOW,
    });
    const deps = realProcessorDeps({ db, sandbox: services.sandbox, env, storage: { ceiling } });
    const result = await processUser({ deps, uid, now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "sent" } });
    expect(reservations).toEqual([]);
    expect(services.sandbox.requests.map((request) => request.authorization)).toEqual([
      "Bearer sk-or-v1-own-key-000000000000000042",
      "Bearer sk-or-v1-own-key-000000000000000042",
    ]);
  });

  it("an insights event that finds the ceiling spent makes no call and is retried later, not dead-lettered", async () => {
    const uid = "writer";
    await seedDueUser(db, { uid, now: NOW, insightsUpToDate: false });
    const { ceiling, spend } = fakeCeiling(10);
    spend(Math.floor(NOW / 60_000) * 60_000);
    // The outbox as production wires it, with the spent ceiling at the ceiling's port.
    const deps = realEventDeps({
      db,
      catcher: services.catcher,
      sandbox: services.sandbox,
      storage: { ceiling },
    });
    const event = newEvent({
      id: `journal.entry.created_${uid}_entry-2`,
      eventType: "journal.entry.created",
      aggregateId: "entry-2",
      aggregateType: "journalEntry",
      payload: { uid, entryId: "entry-2" },
      createdBy: "journaling-app",
      now: NOW,
    });
    await putDocuments(db, "events", [[event.id, { ...event }]]);
    // More denials than the handler's retries (3 for journal events): none is an attempt.
    for (let denial = 0; denial < 5; denial += 1) {
      const result = await processEvent({ deps, eventId: event.id, now: NOW + denial, force: true });
      expect(result).toMatchObject({
        result: "retry_scheduled",
        nextAttemptAt: NEXT_MINUTE + ceilingJitterMs(uid),
      });
    }
    expect(services.sandbox.requests).toHaveLength(0);
    const stored = (await db.doc(`events/${event.id}`).get()).data() ?? {};
    expect(stored).toMatchObject({
      status: "pending",
      attempts: 0,
      next_attempt_at: NEXT_MINUTE + ceilingJitterMs(uid),
    });
    expect((await db.collection("eventDeadLetters").get()).size).toBe(0);

    // The next minute has room: the event runs and the insights are brought up to date.
    const later = await processEvent({ deps, eventId: event.id, now: NEXT_MINUTE + ceilingJitterMs(uid) });
    expect(later).toMatchObject({ result: "processed" });
    expect(services.sandbox.requests).toHaveLength(1);
  });
});
