/**
 * The outbox's insights events under the shared LLM circuit breaker, on the emulator with the LLM
 * sandbox over HTTP: an open breaker defers them without a call (never toward dead letters), and
 * their failed calls on the engine's key count toward opening it.
 */
import { randomBytes } from "node:crypto";
import type { Firestore } from "firebase-admin/firestore";
import { beforeEach, describe, expect, it } from "vitest";
import { createFirestoreLlmBreaker, readLlmBreaker } from "@/adapters/firestore/llm-breaker";
import { createFirestoreUserKeyStore } from "@/adapters/firestore/user-key-store";
import { type AppConfig, requireKeyring } from "@/config";
import { newEvent } from "@/core/events";
import { type EventProcessorDeps, processEvent } from "@/pipeline/outbox/process-event";
import { putDocuments } from "../support/firestore";
import { realEventDeps, seedDueUser, testConfig } from "../support/processor";
import { localServicesForFile } from "../support/stack";

const services = localServicesForFile();
let db: Firestore;
let config: AppConfig;

const NOW = Date.now();
const UID = "writer";
const EVENT_ID = `journal.entry.created_${UID}_entry-2`;

beforeEach(async () => {
  ({ db } = services.handle.freshProject("insights-breaker"));
  services.sandbox.requests.length = 0;
  config = testConfig({
    sandbox: services.sandbox,
    env: { BREAKER_FAILURE_THRESHOLD: "2", ENCRYPTION_KEY: randomBytes(32).toString("base64") },
  });
  // Journal entries the insights have not analysed yet: the event has an LLM call to make.
  await seedDueUser(db, { uid: UID, now: NOW, dueAt: NOW + 3_600_000, insightsUpToDate: false });
  const event = newEvent({
    id: EVENT_ID,
    eventType: "journal.entry.created",
    aggregateId: "entry-2",
    aggregateType: "journalEntry",
    payload: { uid: UID, entryId: "entry-2" },
    createdBy: "journaling-app",
    now: NOW,
  });
  await putDocuments(db, "events", [[event.id, { ...event }]]);
});

/** The outbox as production wires it (services/outbox.ts), insights included, on this test's project. */
function insightsEventDeps(): EventProcessorDeps {
  return realEventDeps({ db, catcher: services.catcher, config });
}

async function storedEvent() {
  return (await db.doc(`events/${EVENT_ID}`).get()).data() ?? {};
}

describe("insights events under the LLM circuit breaker", () => {
  it("while the breaker is open, an insights event makes no LLM call and is deferred with its attempt given back", async () => {
    await putDocuments(db, "systemState", [
      [
        "llmBreaker",
        {
          state: "open",
          consecutiveFailures: 20,
          openedAt: NOW - 60_000,
          openUntil: NOW + 240_000,
          lastFailureAt: NOW - 60_000,
          lastError: "503 upstream unavailable",
        },
      ],
    ]);
    const deps = insightsEventDeps();
    for (const at of [NOW, NOW + 1_000, NOW + 2_000, NOW + 3_000, NOW + 4_000, NOW + 5_000]) {
      const run = await processEvent({ deps, eventId: EVENT_ID, now: at, force: true });
      expect(run).toMatchObject({ result: "retry_scheduled" });
    }
    expect(services.sandbox.requests).toHaveLength(0);
    const event = await storedEvent();
    expect(event).toMatchObject({ status: "pending", attempts: 0 });
    expect(event.last_error).toMatch(/breaker/);
    expect(event.next_attempt_at).toBeGreaterThan(NOW + 5_000);
    expect((await db.doc(`userProcessingState/${UID}`).get()).get("insights")).toBeUndefined();
  });

  it("reports failed insights calls on the engine's key to the breaker, which opens and then stops them", async () => {
    services.sandbox.queueFaults([
      { kind: "status", status: 503 },
      { kind: "status", status: 503 },
    ]);
    const deps = insightsEventDeps();
    await processEvent({ deps, eventId: EVENT_ID, now: NOW, force: true });
    expect(services.sandbox.requests).toHaveLength(1);
    expect(await readLlmBreaker(db)).toMatchObject({ state: "closed", consecutiveFailures: 1 });
    await processEvent({ deps, eventId: EVENT_ID, now: NOW + 1_000, force: true });
    expect(services.sandbox.requests).toHaveLength(2);
    expect(await readLlmBreaker(db)).toMatchObject({ state: "open", consecutiveFailures: 2 });
    // Open now: the next attempt makes no call and is not counted toward dead letters.
    const attemptsBefore = (await storedEvent()).attempts;
    const run = await processEvent({ deps, eventId: EVENT_ID, now: NOW + 2_000, force: true });
    expect(run).toMatchObject({ result: "retry_scheduled" });
    expect(services.sandbox.requests).toHaveLength(2);
    expect(await storedEvent()).toMatchObject({ status: "pending", attempts: attemptsBefore });
  });

  it("keeps failed insights calls on a user's own key out of the shared breaker", async () => {
    const ownKey = "sk-or-v1-writer-own-key-00000000005678";
    await createFirestoreUserKeyStore(db, requireKeyring(config)).save({
      uid: UID,
      apiKey: ownKey,
      now: NOW,
    });
    services.sandbox.queueFaults([
      { kind: "status", status: 503 },
      { kind: "status", status: 503 },
    ]);
    const deps = insightsEventDeps();
    await processEvent({ deps, eventId: EVENT_ID, now: NOW, force: true });
    await processEvent({ deps, eventId: EVENT_ID, now: NOW + 1_000, force: true });
    // Both calls went out on the user's key and failed; the breaker was never written.
    expect(services.sandbox.requests.map((request) => request.authorization)).toEqual([
      `Bearer ${ownKey}`,
      `Bearer ${ownKey}`,
    ]);
    expect(await readLlmBreaker(db)).toBeNull();
  });

  it("gives back the probe it acquired when no insights call was due, so the next run probes at once", async () => {
    await putDocuments(db, "systemState", [
      [
        "llmBreaker",
        {
          state: "open",
          consecutiveFailures: 20,
          openedAt: NOW - 600_000,
          openUntil: NOW - 1_000,
          lastFailureAt: NOW - 600_000,
          lastError: "503 upstream unavailable",
        },
      ],
    ]);
    // Insights already cover every entry: the run has nothing to analyse and makes no call.
    await putDocuments(db, "userInsights", [
      [UID, { uid: UID, summary: "", batches: [], analysedThrough: NOW, updatedAt: NOW }],
    ]);
    const run = await processEvent({ deps: insightsEventDeps(), eventId: EVENT_ID, now: NOW });
    expect(run).toMatchObject({ result: "processed" });
    expect(services.sandbox.requests).toHaveLength(0);
    expect(await createFirestoreLlmBreaker(db, config.processor.breaker).acquire(NOW + 1)).toBe("probe");
  });

  it("a successful insights call resets the breaker's failure count", async () => {
    await putDocuments(db, "systemState", [
      [
        "llmBreaker",
        {
          state: "closed",
          consecutiveFailures: 1,
          openedAt: null,
          openUntil: null,
          lastFailureAt: NOW - 60_000,
          lastError: "503 upstream unavailable",
        },
      ],
    ]);
    const run = await processEvent({ deps: insightsEventDeps(), eventId: EVENT_ID, now: NOW });
    expect(run).toMatchObject({ result: "processed" });
    expect(services.sandbox.requests.length).toBeGreaterThan(0);
    expect(await readLlmBreaker(db)).toMatchObject({ state: "closed", consecutiveFailures: 0 });
  });
});
