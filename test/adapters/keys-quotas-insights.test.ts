import { randomBytes } from "node:crypto";
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { createFirestoreQuotaStore } from "@/adapters/firestore/quota-store";
import { createFirestoreUserKeyStore } from "@/adapters/firestore/user-key-store";
import { getPrompts } from "@/adapters/prompts";
import { type AppConfig, loadConfig, requireKeyring } from "@/config";
import { newEvent } from "@/core/events";
import type { UserInsights } from "@/core/insights";
import type { ProcessingState } from "@/core/processing-state";
import { createEventRegistry } from "@/pipeline/event-handlers";
import { processEvent } from "@/pipeline/process-events";
import { processUser } from "@/pipeline/process-user";
import type { StoredMessage } from "@/pipeline/processor-ports";
import { modelResolver } from "@/services/models";
import type { LlmSandbox } from "../../scripts/local-stack/llm-sandbox";
import type { MailCatcher } from "../../scripts/local-stack/mail-catcher";
import { type EmulatorHandle, putDocuments } from "../support/firestore";
import { realEventDeps, realProcessorDeps, seedDueUser } from "../support/processor";
import { type LocalServices, startLocalServices } from "../support/stack";

let services: LocalServices;
let handle: EmulatorHandle;
let sandbox: LlmSandbox;
let catcher: MailCatcher;
let db: Firestore;
let config: AppConfig;

const DEFAULT_KEY = "sk-or-default-0123456789abcdef";

beforeAll(async () => {
  services = await startLocalServices();
  ({ handle, sandbox, catcher } = services);
});

afterAll(async () => {
  await services?.stop();
});

beforeEach(() => {
  const project = handle.freshProject("keys");
  db = project.db;
  sandbox.requests.length = 0;
  config = loadConfig({
    NODE_ENV: "test",
    FIRESTORE_EMULATOR_HOST: handle.emulator.host,
    FIREBASE_PROJECT_ID: project.projectId,
    OPENROUTER_API_KEY: DEFAULT_KEY,
    OPENROUTER_BASE_URL: sandbox.baseURL,
    ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    LLM_MAX_RETRIES: "0",
    QUOTA_PER_MINUTE: "15",
  });
});

const NOW = Date.now();

describe("quotas", () => {
  it("30 concurrent requests against 15 a minute: exactly 15 go through", async () => {
    const quota = createFirestoreQuotaStore(db);
    const limits = { perMinute: 15, perDay: 1_500, perMonth: 45_000, monthlyBudgetUsd: null };
    const decisions = await Promise.all(
      Array.from({ length: 30 }, () => quota.acquire({ uid: "burst", now: NOW, limits })),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(15);
    const refused = decisions.find((decision) => !decision.allowed);
    expect(refused).toMatchObject({ window: "minute", retryAt: Math.floor(NOW / 60_000) * 60_000 + 60_000 });
    const usage = await quota.usage({ uid: "burst", now: NOW });
    expect(usage.minute.requests).toBe(15);
    expect(usage.day.requests).toBe(15);
  });

  it("never lets a day's count past its limit under concurrency", async () => {
    const quota = createFirestoreQuotaStore(db);
    const limits = { perMinute: 100, perDay: 7, perMonth: 45_000, monthlyBudgetUsd: null };
    const decisions = await Promise.all(
      Array.from({ length: 20 }, () => quota.acquire({ uid: "daily", now: NOW, limits })),
    );
    const allowed = decisions.filter((decision) => decision.allowed).length;
    expect(allowed).toBeLessThanOrEqual(7);
    expect(allowed).toBeGreaterThan(0);
    expect((await quota.usage({ uid: "daily", now: NOW })).day.requests).toBe(allowed);
  });

  it("over quota: no call, the user is rescheduled to when the quota frees, and the state records why", async () => {
    await seedDueUser(db, { uid: "thrifty", now: NOW });
    const tight = loadConfig({ ...config.env, QUOTA_PER_MINUTE: "1" } as unknown as NodeJS.ProcessEnv);
    const deps = realProcessorDeps({ db, sandbox, resolveModel: modelResolver(tight, db) });
    const result = await processUser({ deps, uid: "thrifty", now: NOW });
    expect(result).toMatchObject({
      kind: "processed",
      result: { outcome: "quota_exceeded", messageGenerated: false },
    });
    // The generation call went through; the outcome simulation was not made.
    expect(sandbox.requests).toHaveLength(1);
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
    const quota = createFirestoreQuotaStore(db);
    await quota.record({ uid: "spender", now: NOW, inputTokens: 10, outputTokens: 10, cost: 5.01 });
    const decision = await quota.acquire({
      uid: "spender",
      now: NOW,
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
    const deps = realProcessorDeps({ db, sandbox, resolveModel: modelResolver(config, db) });
    await processUser({ deps, uid: "alice", now: NOW });
    expect(sandbox.requests.map((request) => request.authorization)).toEqual([
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

  it("rejected with 401: the call succeeds on the default key, the fallback is recorded, the key is marked invalid", async () => {
    const revoked = "sk-or-revoked-bob-000000000000005678";
    await createFirestoreUserKeyStore(db, requireKeyring(config)).save({
      uid: "bob",
      apiKey: revoked,
      now: NOW,
    });
    await seedDueUser(db, { uid: "bob", now: NOW });
    const deps = realProcessorDeps({ db, sandbox, resolveModel: modelResolver(config, db) });
    const result = await processUser({ deps, uid: "bob", now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "sent" } });
    expect(sandbox.requests.map((request) => request.authorization)).toEqual([
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
    const deps = realProcessorDeps({
      db,
      sandbox,
      resolveModel: modelResolver(config, db),
      refreshInsightsBeforeGeneration: true,
    });
    await processUser({ deps, uid: "reflective", now: NOW });
    const insights = (await db.doc("userInsights/reflective").get()).data() as UserInsights;
    expect(insights.batches[0]?.entryIds).toHaveLength(3);
    expect(insights.summary.length).toBeGreaterThan(10);
    const bodies = sandbox.requests.map((request) => JSON.stringify(request.body));
    expect(bodies[0]).toContain("Analyse these new journal entries");
    const generation = bodies.find((body) => body.includes("Write the next coaching message"));
    expect(generation).toBeDefined();
    for (const theme of insights.themes) expect(generation).toContain(JSON.stringify(theme).slice(1, -1));
    expect(generation).toContain("<insights>");

    // Nothing new since: the next run does not analyse again.
    sandbox.requests.length = 0;
    await processUser({ deps, uid: "reflective", now: NOW + 60_000, bypassChecks: true });
    expect(
      sandbox.requests
        .map((request) => JSON.stringify(request.body))
        .some((body) => body.includes("Analyse these")),
    ).toBe(false);
  });

  it("the journal.entry.created event analyses new entries in batches of at most 5", async () => {
    await putDocuments(db, "users", [
      [
        "writer",
        {
          email: "writer@example.com",
          timezone: "UTC",
          coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
          nextCoachingMessageDue: NOW + 3_600_000,
        },
      ],
    ]);
    await putDocuments(
      db,
      "users/writer/journalEntries",
      Array.from({ length: 12 }, (_, index) => [
        `e${index}`,
        { content: `Entry number ${index}`, createdAt: NOW - (12 - index) * 60_000 },
      ]),
    );
    const events = realEventDeps({ db, catcher });
    const withInsights = {
      ...events,
      registry: createEventRegistry({
        store: createFirestoreProcessorStore(db),
        mailer: { send: async () => ({ ok: true, id: "unused" }) },
        push: { send: async () => ({ delivered: false, reason: "none" }) },
        renderEmail: async () => ({ subject: "", html: "", text: "" }),
        links: { journalEntryUrl: (id) => id, preferencesUrl: "" },
        random: Math.random,
        resolveModel: modelResolver(config, db),
        prompts: getPrompts(),
        insightsMaxBatches: 3,
      }),
    };
    const event = newEvent({
      id: "journal.entry.created_writer_e11",
      eventType: "journal.entry.created",
      aggregateId: "e11",
      aggregateType: "journalEntry",
      payload: { uid: "writer", entryId: "e11" },
      createdBy: "journaling-app",
      now: NOW,
    });
    await putDocuments(db, "events", [[event.id, { ...event }]]);
    expect(await processEvent({ deps: withInsights, eventId: event.id, now: NOW })).toMatchObject({
      result: "processed",
    });
    const insights = (await db.doc("userInsights/writer").get()).data() as UserInsights;
    expect(insights.batches.map((batch) => batch.entryIds.length)).toEqual([2, 5, 5]);
    expect(sandbox.requests).toHaveLength(3);
  });
});
