import { randomBytes } from "node:crypto";
import type { Firestore } from "firebase-admin/firestore";
import { beforeEach, describe, expect, it } from "vitest";
import { createFirestoreProcessingStateStore } from "@/adapters/firestore/processing-state-store";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { runRetentionCleanup } from "@/adapters/firestore/retention-cleanup";
import { createFirestoreUserKeyStore } from "@/adapters/firestore/user-key-store";
import { createInMemoryProcessorData, createInMemoryProcessorStore } from "@/adapters/memory/processor-store";
import { createInMemoryDatabase } from "@/adapters/memory/scheduler-store";
import { getPrompts } from "@/adapters/prompts";
import { type AppConfig, loadConfig, requireKeyring } from "@/config";
import { newEvent } from "@/core/events";
import type { UserInsights } from "@/core/insights";
import { OWN_KEY_RECHECK_MS } from "@/core/own-key-lookup";
import type { ProcessingState } from "@/core/processing-state";
import type { CoachModel, ResolveRunModel } from "@/pipeline/model-ports";
import { processEvent } from "@/pipeline/outbox/process-event";
import { processEventBatches } from "@/pipeline/outbox/process-event-batches";
import type { CoachingJournalEntry, ProcessorStore, StoredMessage } from "@/pipeline/processor-store-ports";
import { refreshInsights } from "@/pipeline/refresh-insights";
import { createStateQuotaGate } from "@/pipeline/state-quota";
import { firestoreProcessorStorage, wireModelResolver } from "@/services/processor";
import { processUser } from "../../scripts/support/process-user";
import { putDocuments } from "../support/firestore";
import {
  queriesMissingIndexes,
  queriesOnUnindexedFields,
  readFieldOverrides,
  readIndexes,
} from "../support/index-coverage";
import { HOUR, realEventDeps, realProcessorDeps, seedDueUser } from "../support/processor";
import { localServicesForFile } from "../support/stack";

const services = localServicesForFile();
let db: Firestore;
let config: AppConfig;

const DEFAULT_KEY = "sk-or-default-0123456789abcdef";

beforeEach(() => {
  const project = services.handle.freshProject("keys");
  db = project.db;
  services.sandbox.requests.length = 0;
  config = loadConfig({
    NODE_ENV: "test",
    FIRESTORE_EMULATOR_HOST: services.handle.emulator.host,
    FIREBASE_PROJECT_ID: project.projectId,
    OPENROUTER_API_KEY: DEFAULT_KEY,
    OPENROUTER_BASE_URL: services.sandbox.baseURL,
    ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    LLM_MAX_RETRIES: "0",
    QUOTA_PER_MINUTE: "15",
  });
});

const NOW = Date.now();

/** The user key store on this test's project, with the time of every key lookup in `lookups`. */
function lookupCountingKeyStore() {
  const keyStore = createFirestoreUserKeyStore(db, requireKeyring(config));
  const lookups: number[] = [];
  const userKeys = {
    ...keyStore,
    findKey: (input: { uid: string; now: number }) => {
      lookups.push(input.now);
      return keyStore.findKey(input);
    },
  };
  return { keyStore, lookups, userKeys };
}

/**
 * A user with 12 journal entries a minute apart, the last at NOW − 1 min, and the pending
 * journal.entry.created event of that last entry (e11).
 */
async function seedTwelveEntriesAndTheirEvent(uid: string) {
  await putDocuments(db, "users", [
    [
      uid,
      {
        email: `${uid}@example.com`,
        timezone: "UTC",
        coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
        nextCoachingMessageDue: NOW + 3_600_000,
      },
    ],
  ]);
  await putDocuments(
    db,
    `users/${uid}/journalEntries`,
    Array.from({ length: 12 }, (_, index) => [
      `e${index}`,
      { content: `Entry number ${index}`, createdAt: NOW - (12 - index) * 60_000 },
    ]),
  );
  const event = newEvent({
    id: `journal.entry.created_${uid}_e11`,
    eventType: "journal.entry.created",
    aggregateId: "e11",
    aggregateType: "journalEntry",
    payload: { uid, entryId: "e11" },
    createdBy: "journaling-app",
    now: NOW,
  });
  await putDocuments(db, "events", [[event.id, { ...event }]]);
  return event;
}

/**
 * This test's configuration with tighter limits on the engine's key than the environment accepts
 * (src/config refuses a limit below one run's calls, which would starve a run for ever): the
 * refusal itself is what these tests look at.
 */
function withDefaultKeyLimits(limits: Partial<AppConfig["quotas"]["shared"]>): AppConfig {
  return { ...config, quotas: { ...config.quotas, shared: { ...config.quotas.shared, ...limits } } };
}

/** The production model resolver (services/processor.ts's wiring) on this test's project. */
function runModels(config: AppConfig, db: Firestore): ResolveRunModel {
  return wireModelResolver({ config, storage: firestoreProcessorStorage(db, config), warn: () => undefined });
}

/** One run's model for `uid` at `now`, expecting one call. */
function modelResolver(config: AppConfig, db: Firestore) {
  const resolve = runModels(config, db);
  return (uid: string, now: number) => resolve({ uid, now, expectedCalls: 1 });
}

describe("quotas", () => {
  it("counts every run recorded at once on the processing state, and checks a run against what was recorded", async () => {
    const quota = createStateQuotaGate(createFirestoreProcessingStateStore(db));
    await Promise.all(
      Array.from({ length: 20 }, () =>
        quota.recordRun({
          uid: "busy-quota",
          now: NOW,
          keySource: "default",
          requests: 2,
          inputTokens: 10,
          outputTokens: 5,
          cost: 0.001,
        }),
      ),
    );
    const usage = await quota.usage({ uid: "busy-quota", now: NOW, keySource: "default" });
    expect(usage.minute.requests).toBe(40);
    expect(usage.day).toMatchObject({ requests: 40, inputTokens: 200, outputTokens: 100 });
    expect(usage.month.requests).toBe(40);
    expect((await quota.usage({ uid: "busy-quota", now: NOW, keySource: "user" })).day.requests).toBe(0);
    const limits = { perMinute: 100, perDay: 41, perMonth: 45_000, monthlyBudgetUsd: null };
    expect(
      await quota.admitRun({ uid: "busy-quota", now: NOW, limits, keySource: "default", calls: 1 }),
    ).toEqual({
      allowed: true,
    });
    expect(
      await quota.admitRun({ uid: "busy-quota", now: NOW, limits, keySource: "default", calls: 2 }),
    ).toMatchObject({ allowed: false, window: "day" });
    // The next UTC day starts from 0: its counters are other fields.
    expect(
      (await quota.usage({ uid: "busy-quota", now: NOW + 24 * HOUR, keySource: "default" })).day.requests,
    ).toBe(0);
  });

  it("a processed user's calls are recorded on their processing state, with no usage document of their own", async () => {
    await seedDueUser(db, { uid: "counted", now: NOW });
    const before = services.sandbox.requests.length;
    const deps = realProcessorDeps({ db, sandbox: services.sandbox });
    expect(await processUser({ deps, uid: "counted", now: NOW })).toMatchObject({
      result: { outcome: "sent" },
    });
    const calls = services.sandbox.requests.length - before;
    const quota = createStateQuotaGate(createFirestoreProcessingStateStore(db));
    expect((await quota.usage({ uid: "counted", now: NOW, keySource: "default" })).day.requests).toBe(calls);
    expect((await db.collection("llmUsage").where("uid", "==", "counted").get()).size).toBe(0);
  });

  it("over quota: no call, the user is rescheduled to when the quota frees, and the state records why", async () => {
    await seedDueUser(db, { uid: "thrifty", now: NOW });
    const tight = withDefaultKeyLimits({ perMinute: 1 });
    const deps = realProcessorDeps({ db, sandbox: services.sandbox, config: tight });
    const result = await processUser({ deps, uid: "thrifty", now: NOW });
    expect(result).toMatchObject({
      kind: "processed",
      result: { outcome: "quota_exceeded", messageGenerated: false },
    });
    // The run's two calls (generation, scoring) are admitted together before the first: over a
    // limit of one a minute, neither is made (no generation wasted on a draft that cannot be scored).
    expect(services.sandbox.requests).toHaveLength(0);
    const nextMinute = Math.floor(NOW / 60_000) * 60_000 + 60_000;
    expect((await db.doc("users/thrifty").get()).get("nextCoachingMessageDue")).toBe(nextMinute);
    const state = (await db.doc("userProcessingState/thrifty").get()).data() as ProcessingState;
    expect(state.actionHistory[0]).toMatchObject({
      action: "run_finished",
      details: expect.stringContaining("quota"),
    });
    expect(state.consecutiveFailures).toBe(0);
  });

  it("a monthly budget, from the cost the provider reports, stops calls like a quota", async () => {
    const quota = createStateQuotaGate(createFirestoreProcessingStateStore(db));
    await quota.recordRun({
      uid: "spender",
      now: NOW,
      keySource: "default",
      requests: 1,
      inputTokens: 10,
      outputTokens: 10,
      cost: 5.01,
    });
    const decision = await quota.admitRun({
      uid: "spender",
      now: NOW,
      keySource: "default",
      calls: 1,
      limits: { perMinute: 15, perDay: 100, perMonth: 1000, monthlyBudgetUsd: 5 },
    });
    expect(decision).toMatchObject({ allowed: false, window: "budget" });
  });
});

describe("a user's own key", () => {
  it("is used when stored, and never stored in plaintext", async () => {
    const ownKey = "sk-or-v1-alice-own-key-00000000001234";
    await createFirestoreUserKeyStore(db, requireKeyring(config)).save({
      uid: "alice",
      apiKey: ownKey,
      now: NOW,
    });
    await seedDueUser(db, { uid: "alice", now: NOW });
    const deps = realProcessorDeps({ db, sandbox: services.sandbox, config });
    await processUser({ deps, uid: "alice", now: NOW });
    expect(services.sandbox.requests.map((request) => request.authorization)).toEqual([
      `Bearer ${ownKey}`,
      `Bearer ${ownKey}`,
    ]);
    const stored = (await db.doc("userApiKeys/alice").get()).data();
    expect(stored).toMatchObject({ last4: "1234", status: "active" });
    expect(JSON.stringify(stored)).not.toContain(ownKey);
    const [message] = (await db.collection("coachingMessages").where("uid", "==", "alice").get()).docs.map(
      (document) => document.data() as StoredMessage,
    );
    expect(message?.llmCalls.every((call) => call.keySource === "user")).toBe(true);
  });

  it("is looked up once for a user without one; later runs skip the lookup until a key is stored, then use it", async () => {
    const { keyStore, lookups, userKeys } = lookupCountingKeyStore();
    await seedDueUser(db, { uid: "carol", now: NOW });
    const deps = realProcessorDeps({ db, sandbox: services.sandbox, config, storage: { userKeys } });
    const stateOfCarol = async () => (await db.doc("userProcessingState/carol").get()).data();

    await processUser({ deps, uid: "carol", now: NOW });
    expect(lookups).toEqual([NOW]);
    expect(await stateOfCarol()).toMatchObject({ ownKeyFound: false, ownKeyCheckedAt: NOW });

    await processUser({ deps, uid: "carol", now: NOW + HOUR, bypassChecks: true });
    expect(lookups).toEqual([NOW]);

    const ownKey = "sk-or-v1-carol-own-key-00000000005678";
    await keyStore.save({ uid: "carol", apiKey: ownKey, now: NOW + 2 * HOUR });
    services.sandbox.requests.length = 0;
    await processUser({ deps, uid: "carol", now: NOW + 3 * HOUR, bypassChecks: true });
    expect(lookups).toEqual([NOW, NOW + 3 * HOUR]);
    expect(services.sandbox.requests[0]?.authorization).toBe(`Bearer ${ownKey}`);
    expect(await stateOfCarol()).toMatchObject({ ownKeyFound: true, ownKeyCheckedAt: NOW + 3 * HOUR });

    await keyStore.remove({ uid: "carol", now: NOW + 4 * HOUR });
    services.sandbox.requests.length = 0;
    await processUser({ deps, uid: "carol", now: NOW + 5 * HOUR, bypassChecks: true });
    expect(lookups).toHaveLength(2);
    expect(services.sandbox.requests[0]?.authorization).toBe(`Bearer ${DEFAULT_KEY}`);
  });

  it("finds a key the 'no key' word missed (a key route whose clock is behind) once the word is OWN_KEY_RECHECK_MS old", async () => {
    const { keyStore, lookups, userKeys } = lookupCountingKeyStore();
    await seedDueUser(db, { uid: "dora", now: NOW });
    const deps = realProcessorDeps({ db, sandbox: services.sandbox, config, storage: { userKeys } });
    await processUser({ deps, uid: "dora", now: NOW });
    expect(lookups).toEqual([NOW]);
    // Stored a minute later by a key route whose clock reads 10 minutes behind the processor's:
    // its word looks older than the run's "no key".
    const ownKey = "sk-or-v1-dora-own-key-000000000000777";
    await keyStore.save({ uid: "dora", apiKey: ownKey, now: NOW + 60_000 - 10 * 60_000 });
    await processUser({ deps, uid: "dora", now: NOW + HOUR, bypassChecks: true });
    expect(lookups).toEqual([NOW]);
    services.sandbox.requests.length = 0;
    await processUser({ deps, uid: "dora", now: NOW + OWN_KEY_RECHECK_MS, bypassChecks: true });
    expect(lookups).toEqual([NOW, NOW + OWN_KEY_RECHECK_MS]);
    expect(services.sandbox.requests[0]?.authorization).toBe(`Bearer ${ownKey}`);
  });

  it("rejected with 401: the call succeeds on the default key, the fallback is recorded, the key is marked invalid", async () => {
    const revoked = "sk-or-revoked-bob-000000000000005678";
    await createFirestoreUserKeyStore(db, requireKeyring(config)).save({
      uid: "bob",
      apiKey: revoked,
      now: NOW,
    });
    await seedDueUser(db, { uid: "bob", now: NOW });
    const deps = realProcessorDeps({ db, sandbox: services.sandbox, config });
    const result = await processUser({ deps, uid: "bob", now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "sent" } });
    expect(services.sandbox.requests.map((request) => request.authorization)).toEqual([
      `Bearer ${revoked}`,
      `Bearer ${DEFAULT_KEY}`,
      `Bearer ${DEFAULT_KEY}`,
    ]);
    const [message] = (await db.collection("coachingMessages").where("uid", "==", "bob").get()).docs.map(
      (document) => document.data() as StoredMessage,
    );
    expect(message?.wasSent).toBe(true);
    expect(
      message?.llmCalls.map((call) => [call.purpose, call.keySource, call.fallbackReason !== null]),
    ).toEqual([
      ["generation", "default", true],
      ["outcome_simulation", "default", false],
    ]);
    expect((await db.doc("userApiKeys/bob").get()).data()).toMatchObject({ status: "invalid", fallbacks: 1 });
  });
});

describe("journal insights", () => {
  it("new entries are analysed before generation and the insights appear in the generation prompt", async () => {
    await seedDueUser(db, {
      uid: "reflective",
      now: NOW,
      insightsUpToDate: false,
      entries: ["Week one of the new job.", "Still tired, but the team is kind.", "Started running again."],
    });
    const deps = realProcessorDeps({ db, sandbox: services.sandbox, config });
    await processUser({ deps, uid: "reflective", now: NOW });
    const insights = (await db.doc("userProcessingState/reflective").get()).get("insights") as UserInsights;
    expect(insights.batches[0]?.entryIds).toHaveLength(3);
    expect(insights.summary.length).toBeGreaterThan(10);
    const bodies = services.sandbox.requests.map((request) => JSON.stringify(request.body));
    expect(bodies[0]).toContain("Analyse these new journal entries");
    const generation = bodies.find((body) => body.includes("Write the next coaching message"));
    expect(generation).toBeDefined();
    for (const theme of insights.themes) expect(generation).toContain(JSON.stringify(theme).slice(1, -1));
    expect(generation).toContain("<insights>");

    // Nothing new since: the next run does not analyse again.
    services.sandbox.requests.length = 0;
    await processUser({ deps, uid: "reflective", now: NOW + 60_000, bypassChecks: true });
    expect(
      services.sandbox.requests
        .map((request) => JSON.stringify(request.body))
        .some((body) => body.includes("Analyse these")),
    ).toBe(false);
  });

  it("the journal.entry.created event analyses new entries in batches of at most 5", async () => {
    const event = await seedTwelveEntriesAndTheirEvent("writer");
    const withInsights = realEventDeps({ db, catcher: services.catcher, config });
    expect(await processEvent({ deps: withInsights, eventId: event.id, now: NOW })).toMatchObject({
      result: "processed",
    });
    const insights = (await db.doc("userProcessingState/writer").get()).get("insights") as UserInsights;
    expect(insights.batches.map((batch) => batch.entryIds.length)).toEqual([2, 5, 5]);
    expect(services.sandbox.requests).toHaveLength(3);
  });

  it("a drain starts no insights LLM call that could outlast it; the event succeeds with partial progress (review 2, item 1)", async () => {
    await seedTwelveEntriesAndTheirEvent("slowpoke");
    const withInsights = realEventDeps({ db, catcher: services.catcher, config });
    // Each LLM call takes 20 s of the drain: after the first, fewer than LLM_TIMEOUT_MS (45 s)
    // are left before the drain's end (50 s), so a second call could be killed with the drain.
    const summary = await processEventBatches({
      deps: withInsights,
      now: () => NOW,
      batchSize: 5,
      concurrency: 1,
      timeBudgetMs: config.events.timeBudgetMs,
      deadlineMs: config.events.handlerDeadlineMs,
      elapsedMs: () => services.sandbox.requests.length * 20_000,
    });
    expect(summary).toMatchObject({ processed: 1, retryScheduled: 0, deadLettered: 0 });
    expect(services.sandbox.requests).toHaveLength(1);
    const insights = (await db.doc("userProcessingState/slowpoke").get()).get("insights") as UserInsights;
    // One batch of five analysed, its cursor saved; the rest is left for the next run.
    expect(insights.batches.map((batch) => batch.entryIds.length)).toEqual([5]);
    expect(insights.analysedThrough).toBe(NOW - 8 * 60_000);
    expect(() => loadConfig({ NODE_ENV: "test", LLM_TIMEOUT_MS: "55000" })).toThrow(/LLM_TIMEOUT_MS/);
  });
});

const DAY = 24 * 3_600_000;
const CURSOR = NOW - 30 * DAY;

interface JournalSeed {
  id: string;
  createdAt: number;
  coaching?: boolean;
}

function coachingEntry(seed: JournalSeed): CoachingJournalEntry {
  return {
    content: `## Coaching\nA coaching message ${seed.id}.`,
    createdAt: seed.createdAt,
    title: "Coaching",
    isCoachingMessage: true,
    source: "coaching-engine",
    format: "markdown",
    coachingMessageId: `message-${seed.id}`,
    messageType: "check_in",
    pushNotificationText: null,
  };
}

const userEntry = (seed: JournalSeed) => ({ content: `My own words ${seed.id}.`, createdAt: seed.createdAt });

/** The same journal in the Firestore store and its in-memory twin: both must read it alike. */
const journalStores: [string, (uid: string, seeds: JournalSeed[]) => Promise<ProcessorStore>][] = [
  [
    "Firestore",
    async (uid, seeds) => {
      await putDocuments(
        db,
        `users/${uid}/journalEntries`,
        seeds.map((seed) => [seed.id, seed.coaching ? { ...coachingEntry(seed) } : userEntry(seed)]),
      );
      return createFirestoreProcessorStore(db);
    },
  ],
  [
    "in-memory",
    async (uid, seeds) => {
      const data = createInMemoryProcessorData();
      data.journal.set(
        uid,
        seeds.map((seed) =>
          seed.coaching ? { ...coachingEntry(seed), id: seed.id } : { ...userEntry(seed), id: seed.id },
        ),
      );
      return createInMemoryProcessorStore(createInMemoryDatabase(), data);
    },
  ],
];

const coachingRun = (count: number, from: number): JournalSeed[] =>
  Array.from({ length: count }, (_, index) => ({
    id: `c${String(index + 1).padStart(3, "0")}`,
    createdAt: from + (index + 1) * 1_000,
    coaching: true,
  }));

describe.each(journalStores)("reading the journal past coaching entries (%s store)", (_name, seed) => {
  it("entries after the cursor: skips 20 coaching entries to the user's entry and reads through it", async () => {
    const store = await seed("pauser", [
      ...coachingRun(20, CURSOR),
      { id: "back", createdAt: CURSOR + 25_000 },
    ]);
    const page = await store.listEntriesAfter({ uid: "pauser", after: CURSOR, limit: 5 });
    expect(page.entries.map((entry) => entry.id)).toEqual(["back"]);
    expect(page.readThrough).toBe(CURSOR + 25_000);
  });

  it("only coaching entries after the cursor: no entry, read through the last one", async () => {
    const store = await seed("quiet", coachingRun(20, CURSOR));
    const page = await store.listEntriesAfter({ uid: "quiet", after: CURSOR, limit: 5 });
    expect(page).toEqual({ entries: [], readThrough: CURSOR + 20_000 });
  });

  it("a long run of coaching entries is read in bounded pages; the next read goes on from where this one stopped", async () => {
    const store = await seed("long-pause", [
      ...coachingRun(100, CURSOR),
      { id: "back", createdAt: CURSOR + 101_000 },
    ]);
    const first = await store.listEntriesAfter({ uid: "long-pause", after: CURSOR, limit: 5 });
    expect(first.entries).toEqual([]);
    expect(first.readThrough).toBeGreaterThan(CURSOR);
    expect(first.readThrough).toBeLessThan(CURSOR + 100_000);
    let page = first;
    for (let reads = 0; page.entries.length === 0 && reads < 5; reads += 1) {
      page = await store.listEntriesAfter({ uid: "long-pause", after: page.readThrough, limit: 5 });
    }
    expect(page.entries.map((entry) => entry.id)).toEqual(["back"]);
  });

  it("the context's list finds the user's own entries behind 40 newer coaching entries", async () => {
    const store = await seed("coached", [
      { id: "u1", createdAt: CURSOR + 1 },
      { id: "u2", createdAt: CURSOR + 2 },
      { id: "u3", createdAt: CURSOR + 3 },
      ...coachingRun(40, CURSOR + 10),
    ]);
    const entries = await store.listJournalEntries({ uid: "coached", limit: 10 });
    expect(entries.map((entry) => entry.id)).toEqual(["u3", "u2", "u1"]);
  });
});

describe("insights after a journaling pause", () => {
  const seedInsights = (uid: string) =>
    putDocuments(db, "userInsights", [
      [
        uid,
        {
          uid,
          themes: ["work"],
          goalsAndCommitments: [],
          moodTrend: "stable",
          challenges: [],
          notableChanges: [],
          latestSummary: "Settling in.",
          summary: "Settling in.",
          analysedThrough: CURSOR,
          batches: [],
          updatedAt: CURSOR,
        },
      ],
    ]);
  const insightCalls = () =>
    services.sandbox.requests.filter((request) => JSON.stringify(request.body).includes("Analyse these"));

  it("20 coaching entries after the cursor, then a user entry: the refresh analyses the user entry", async () => {
    await seedInsights("pauser");
    const [store] = await Promise.all([
      journalStores[0]?.[1]("pauser", [
        ...coachingRun(20, CURSOR),
        { id: "back", createdAt: CURSOR + 25_000 },
      ]),
    ]);
    const refresh = await refreshInsights({
      store: store as ProcessorStore,
      model: (await modelResolver(config, db)("pauser", NOW)).model,
      prompts: getPrompts(),
      uid: "pauser",
      now: NOW,
      maxBatches: 3,
    });
    expect(refresh.status).toBe("refreshed");
    const insights = (await db.doc("userProcessingState/pauser").get()).get("insights") as UserInsights;
    expect(insights.batches[0]?.entryIds).toEqual(["back"]);
    expect(insights.analysedThrough).toBe(CURSOR + 25_000);
    expect(JSON.stringify(insightCalls()[0]?.body)).toContain("My own words back.");
  });

  it("only coaching entries since the last analysis: the cursor moves past them without an LLM call", async () => {
    await seedInsights("quiet");
    const store = (await journalStores[0]?.[1]("quiet", coachingRun(20, CURSOR))) as ProcessorStore;
    const { model } = await modelResolver(config, db)("quiet", NOW);
    const refresh = await refreshInsights({
      store,
      model,
      prompts: getPrompts(),
      uid: "quiet",
      now: NOW,
      maxBatches: 3,
    });
    expect(refresh.status).toBe("up_to_date");
    expect(insightCalls()).toHaveLength(0);
    expect((await db.doc("userProcessingState/quiet").get()).get("insights.analysedThrough")).toBe(
      CURSOR + 20_000,
    );
  });

  it("a user without insights and only coaching entries keeps a cursor, so a later entry is found", async () => {
    const store = (await journalStores[0]?.[1]("newcomer", coachingRun(70, CURSOR))) as ProcessorStore;
    const { model } = await modelResolver(config, db)("newcomer", NOW);
    const run = () =>
      refreshInsights({ store, model, prompts: getPrompts(), uid: "newcomer", now: NOW, maxBatches: 1 });
    await run();
    await run();
    await putDocuments(db, "users/newcomer/journalEntries", [
      ["late", { content: "Writing again.", createdAt: CURSOR + 80_000 }],
    ]);
    const refresh = await run();
    expect(refresh.status).toBe("refreshed");
    expect(refresh.insights?.batches[0]?.entryIds).toEqual(["late"]);
    expect(insightCalls()).toHaveLength(1);
  });
});

describe("a user's own key that keeps failing", () => {
  const BUSY_KEY = "sk-or-busy-carol-000000000000009999";
  const analyse = (model: CoachModel) =>
    model.analyseJournal({ system: "Analyse.", prompt: "Analyse these new journal entries." });

  it("answering 429: fallback calls are charged to the default-key quota and stop at its limit", async () => {
    const tight = withDefaultKeyLimits({ perMinute: 2 });
    await createFirestoreUserKeyStore(db, requireKeyring(tight)).save({
      uid: "carol",
      apiKey: BUSY_KEY,
      now: NOW,
    });
    // One run: its calls count against the quota as they are made, and are recorded when it settles.
    const run = await modelResolver(tight, db)("carol", NOW);
    const results = [await analyse(run.model), await analyse(run.model), await analyse(run.model)];
    await run.settle();
    expect(results.map((result) => result.ok)).toEqual([true, true, false]);
    expect(results[2]).toMatchObject({ ok: false, quotaRetryAt: Math.floor(NOW / 60_000) * 60_000 + 60_000 });
    expect(services.sandbox.requests.map((request) => request.authorization)).toEqual([
      `Bearer ${BUSY_KEY}`,
      `Bearer ${DEFAULT_KEY}`,
      `Bearer ${DEFAULT_KEY}`,
    ]);
    const quota = createStateQuotaGate(createFirestoreProcessingStateStore(db));
    expect((await quota.usage({ uid: "carol", now: NOW, keySource: "default" })).minute.requests).toBe(2);
  });

  it("cools down after a rejection: runs go straight to the default key until it ends, and a repeat cools longer", async () => {
    const keys = createFirestoreUserKeyStore(db, requireKeyring(config));
    await keys.save({ uid: "carol", apiKey: BUSY_KEY, now: NOW });
    const resolveRun = modelResolver(config, db);
    /** One run of one call, settled (its usage recorded). */
    const analyseInRun = async (now: number) => {
      const run = await resolveRun("carol", now);
      const result = await analyse(run.model);
      await run.settle();
      return result;
    };

    const first = await analyseInRun(NOW);
    expect(first.ok).toBe(true);
    const afterFirst = (await db.doc("userApiKeys/carol").get()).data() ?? {};
    expect(afterFirst).toMatchObject({ status: "rate_limited", consecutiveRejections: 1 });
    const firstCoolingUntil = afterFirst.coolingUntil as number;
    expect(firstCoolingUntil).toBeGreaterThan(NOW);

    services.sandbox.requests.length = 0;
    const whileCooling = await analyseInRun(NOW + 1_000);
    expect(whileCooling.call.keySource).toBe("default");
    expect(services.sandbox.requests.map((request) => request.authorization)).toEqual([
      `Bearer ${DEFAULT_KEY}`,
    ]);
    const quota = createStateQuotaGate(createFirestoreProcessingStateStore(db));
    expect((await quota.usage({ uid: "carol", now: NOW + 1_000, keySource: "default" })).day.requests).toBe(
      2,
    );

    services.sandbox.requests.length = 0;
    const retryAt = firstCoolingUntil + 1;
    await analyseInRun(retryAt);
    expect(services.sandbox.requests.map((request) => request.authorization)).toEqual([
      `Bearer ${BUSY_KEY}`,
      `Bearer ${DEFAULT_KEY}`,
    ]);
    const afterSecond = (await db.doc("userApiKeys/carol").get()).data() ?? {};
    expect(afterSecond.consecutiveRejections).toBe(2);
    expect((afterSecond.coolingUntil as number) - retryAt).toBeGreaterThan(firstCoolingUntil - NOW);
  });
});

describe("retention cleanup", () => {
  const OLD = NOW - 500 * DAY;
  const FRESH = NOW - 3_600_000;

  it("removes old quota tokens, usage, leases and probe documents and keeps fresh ones", async () => {
    await putDocuments(db, "llmQuotaTokens", [
      ["u_old_1", { uid: "u", claimedAt: OLD }],
      ["u_fresh_1", { uid: "u", claimedAt: FRESH }],
    ]);
    await putDocuments(db, "llmUsage", [
      ["u_minute_old", { uid: "u", window: "minute", key: "old", requests: 1, updatedAt: OLD }],
      ["u_minute_fresh", { uid: "u", window: "minute", key: "fresh", requests: 1, updatedAt: FRESH }],
      ["u_day_old", { uid: "u", window: "day", key: "old", requests: 1, updatedAt: OLD }],
      ["u_day_fresh", { uid: "u", window: "day", key: "fresh", requests: 1, updatedAt: FRESH }],
      ["u_month_old", { uid: "u", window: "month", key: "old", requests: 1, updatedAt: OLD }],
      ["u_month_fresh", { uid: "u", window: "month", key: "fresh", requests: 1, updatedAt: FRESH }],
    ]);
    await putDocuments(db, "llmBreakerProbes", [
      ["old-probe", { claimedAt: OLD }],
      ["fresh-probe", { claimedAt: FRESH }],
    ]);
    await putDocuments(db, "coachingSlotLeases", [
      ["old-lease", { slotId: "s", leaseNumber: 1, uid: "u", claimedAt: OLD }],
      ["fresh-lease", { slotId: "s", leaseNumber: 2, uid: "u", claimedAt: FRESH }],
    ]);
    await putDocuments(db, "eventLeases", [
      ["old-lease", { eventId: "e", leaseNumber: 1, claimedAt: OLD }],
      ["fresh-lease", { eventId: "e", leaseNumber: 2, claimedAt: FRESH }],
    ]);
    const report = await runRetentionCleanup(db, { now: NOW, historyDays: 30, maxDeletes: 1_000 });
    expect(report.hasMore).toBe(false);
    const ids = async (collection: string) =>
      (await db.collection(collection).get()).docs.map((document) => document.id).sort();
    expect(await ids("llmQuotaTokens")).toEqual(["u_fresh_1"]);
    expect(await ids("llmUsage")).toEqual(["u_day_fresh", "u_minute_fresh", "u_month_fresh"]);
    expect(await ids("llmBreakerProbes")).toEqual(["fresh-probe"]);
    expect(await ids("coachingSlotLeases")).toEqual(["fresh-lease"]);
    expect(await ids("eventLeases")).toEqual(["fresh-lease"]);
    expect((await runRetentionCleanup(db, { now: NOW, historyDays: 30, maxDeletes: 1_000 })).total).toBe(0);
  });

  it("shares a small delete budget across collections, so one large collection cannot starve the others", async () => {
    await putDocuments(
      db,
      "llmQuotaTokens",
      Array.from({ length: 30 }, (_, index) => [`t${index}`, { uid: "u", claimedAt: OLD }]),
    );
    await putDocuments(db, "llmBreakerProbes", [["old-probe", { claimedAt: OLD }]]);
    const report = await runRetentionCleanup(db, { now: NOW, historyDays: 30, maxDeletes: 10 });
    expect(report.total).toBe(10);
    expect(report.hasMore).toBe(true);
    expect((await db.collection("llmBreakerProbes").get()).size).toBe(0);
  });

  it("every query this file issued has its index, and none filters or orders on an unindexed field", () => {
    const queries = services.handle.emulator.recordedQueries();
    expect(queriesMissingIndexes(queries, readIndexes())).toEqual([]);
    expect(queriesOnUnindexedFields(queries, readFieldOverrides())).toEqual([]);
  });
});
