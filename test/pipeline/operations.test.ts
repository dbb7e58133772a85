import fc from "fast-check";
import type { Firestore } from "firebase-admin/firestore";
import { beforeEach, describe, expect, it } from "vitest";
import { createFirestoreLlmBreaker } from "@/adapters/firestore/llm-breaker";
import { createFirestoreProcessingStateStore } from "@/adapters/firestore/processing-state-store";
import { runRetentionCleanup } from "@/adapters/firestore/retention-cleanup";
import { createFirestoreSchedulerStore } from "@/adapters/firestore/scheduler-store";
import { createOpenRouterCoach } from "@/adapters/llm/openrouter-coach";
import {
  MAX_ACTION_HISTORY,
  MAX_RECENT_ERRORS,
  normaliseProcessingState,
  type ProcessingState,
} from "@/core/processing-state";
import { prependRolling } from "@/core/processing-state-change";
import { retryDueAt } from "@/core/schedule";
import { createFallbackCoach } from "@/pipeline/keyed-coach";
import { recordDuplicate, startRun } from "@/pipeline/processing-log";
import { runScheduler } from "@/pipeline/run-scheduler";
import { processUser } from "../../scripts/support/process-user";
import { putDocuments } from "../support/firestore";
import { queriesMissingIndexes, readIndexes } from "../support/index-coverage";
import { HOUR, realProcessorDeps, seedDueUser } from "../support/processor";
import { localServicesForFile } from "../support/stack";

const services = localServicesForFile();
let db: Firestore;

beforeEach(() => {
  ({ db } = services.handle.freshProject("ops"));
  services.sandbox.requests.length = 0;
});

const NOW = Date.now();

/** The state as the engine reads it (counters are stored where increments can reach them). */
async function stateOf(uid: string): Promise<ProcessingState> {
  return normaliseProcessingState(
    uid,
    (await db.doc(`userProcessingState/${uid}`).get()).data() as Partial<ProcessingState>,
  );
}

async function dueOf(uid: string): Promise<number> {
  return (await db.doc(`users/${uid}`).get()).get("nextCoachingMessageDue") as number;
}

function recordingDispatcher(dispatched: string[]) {
  return {
    dispatch: async ({ userId }: { userId: string }) => {
      dispatched.push(userId);
      return { ok: true as const, status: 202 };
    },
  };
}
const settings = {
  pageSize: 100,
  maxUsersPerTick: 1000,
  bootstrapLimit: 0,
  timeBudgetMs: 60_000,
  disabledRecheckMs: 24 * HOUR,
  dispatchConcurrency: 5,
};

describe("processing state", () => {
  it("after a processed user: the phases passed, the counters, an action per step", async () => {
    await seedDueUser(db, { uid: "tracked", now: NOW });
    const deps = realProcessorDeps({ db, sandbox: services.sandbox });
    await processUser({ deps, uid: "tracked", now: NOW });
    const state = await stateOf("tracked");
    expect(state).toMatchObject({
      status: "waiting",
      phase: "idle",
      isProcessing: false,
      consecutiveFailures: 0,
      lastRunPhases: ["building_context", "generating", "scoring", "storing", "delivering"],
      stats: { messagesGenerated: 1, messagesSent: 1, gateSkipped: 0, errors: 0, lastSentAt: NOW },
    });
    expect(state.actionHistory.map((entry) => entry.action)).toEqual([
      "run_finished",
      "rescheduled",
      "slot_completed",
      "message_sent",
      "journal_entry_created",
      "attempt_stored",
      "generated",
      "claimed",
    ]);
    expect(state.recentErrors).toEqual([]);
  });

  it("a failing LLM adds an error entry with the phase it failed in", async () => {
    await seedDueUser(db, { uid: "broken", now: NOW });
    services.sandbox.queueFaults([{ kind: "pass" }, { kind: "status", status: 400 }]);
    const deps = realProcessorDeps({ db, sandbox: services.sandbox });
    await processUser({ deps, uid: "broken", now: NOW });
    const state = await stateOf("broken");
    expect(state).toMatchObject({
      status: "error",
      phase: "error",
      consecutiveFailures: 1,
      stats: { errors: 1 },
    });
    expect(state.recentErrors).toEqual([
      expect.objectContaining({
        phase: "scoring",
        errorType: "generation_failed",
        errorMessage: expect.stringContaining("400"),
      }),
    ]);
  });

  it("keeps the rolling logs at 20 actions and 10 errors, newest first", () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer(), { maxLength: 30 }), { maxLength: 30 }), (runs) => {
        let actions: number[] = [];
        let errors: number[] = [];
        for (const entries of runs) {
          actions = prependRolling(actions, entries, MAX_ACTION_HISTORY);
          errors = prependRolling(errors, entries, MAX_RECENT_ERRORS);
          expect(actions.length).toBeLessThanOrEqual(20);
          expect(errors.length).toBeLessThanOrEqual(10);
          if (entries.length > 0) expect(actions[0]).toBe(entries.at(-1));
        }
      }),
    );
  });

  it("never stores more than 20 actions and 10 errors over many failing runs", async () => {
    await seedDueUser(db, { uid: "many", now: NOW });
    const deps = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      suspension: { maxConsecutiveFailures: 100, suspensionMs: HOUR },
    });
    let now = NOW;
    for (let run = 0; run < 12; run += 1) {
      services.sandbox.queueFaults([{ kind: "status", status: 400 }]);
      await processUser({ deps, uid: "many", now, bypassChecks: true });
      now += 60_000;
    }
    const state = await stateOf("many");
    expect(state.actionHistory).toHaveLength(20);
    expect(state.recentErrors).toHaveLength(10);
    expect(state.stats.errors).toBe(12);
  });
});

describe("suspension", () => {
  it("5 consecutive failures suspend a user automatically, with the reason, until the suspension ends", async () => {
    await seedDueUser(db, { uid: "failing", now: NOW });
    const deps = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      suspension: { maxConsecutiveFailures: 5, suspensionMs: 24 * HOUR },
    });
    let now = NOW;
    for (let run = 1; run <= 5; run += 1) {
      services.sandbox.queueFaults([{ kind: "status", status: 400 }]);
      await processUser({ deps, uid: "failing", now, bypassChecks: true });
      const state = await stateOf("failing");
      expect(state.consecutiveFailures).toBe(run);
      expect(state.status).toBe(run < 5 ? "error" : "suspended");
      now += 60_000;
    }
    const state = await stateOf("failing");
    expect(state.suspendReason).toContain("5 consecutive failures");
    expect(state.suspendUntil).toBe(now - 60_000 + 24 * HOUR);
    expect((await db.doc("users/failing").get()).get("suspendUntil")).toBe(state.suspendUntil);
    expect(await dueOf("failing")).toBe(state.suspendUntil);
  });

  it.each([
    ["a rate limit (429)", { kind: "status", status: 429 }],
    ["a provider error (503)", { kind: "status", status: 503 }],
    ["a timeout", { kind: "delay", delayMs: 1_500 }],
  ] as const)(
    "%s is not the user's failure: not counted, never suspends, the retry interval, first next window",
    async (_case, fault) => {
      const uid = `provider-${fault.kind}-${"status" in fault ? fault.status : "slow"}`;
      await seedDueUser(db, { uid, now: NOW });
      const deps = realProcessorDeps({
        db,
        sandbox: services.sandbox,
        timeoutMs: 500,
        suspension: { maxConsecutiveFailures: 2, suspensionMs: 24 * HOUR },
      });
      let now = NOW;
      for (let run = 1; run <= 3; run += 1) {
        const requests = services.sandbox.requests.length;
        services.sandbox.queueFaults([fault]);
        const result = await processUser({ deps, uid, now, bypassChecks: true });
        expect(services.sandbox.requests.length).toBeGreaterThan(requests);
        expect(result).toMatchObject({
          kind: "processed",
          result: {
            outcome: "provider_unavailable",
            messageGenerated: false,
            nextCoachingMessageDue: retryDueAt({ now, frequency: "daily" }),
          },
        });
        const state = await stateOf(uid);
        expect(state).toMatchObject({ consecutiveFailures: 0, isProcessing: false });
        expect(state.status).not.toBe("suspended");
        expect(await dueOf(uid)).toBe(retryDueAt({ now, frequency: "daily" }));
        // Missed this window through no fault of theirs: ranked ahead of those served at the next.
        expect((await db.doc(`users/${uid}`).get()).get("coachingDueRank")).toBeLessThan(-run + 1);
        now += 60_000;
      }
      expect((await db.doc(`users/${uid}`).get()).get("suspendUntil")).toBeUndefined();
    },
  );

  /** A user's own key (`ownApiKey`) with the engine's key behind it, as services/models.ts wires them. */
  function ownKeyCoach(ownApiKey: string, timeoutMs: number) {
    const coach = (apiKey: string, keySource: "user" | "default") =>
      createOpenRouterCoach({
        apiKey,
        keySource,
        baseURL: services.sandbox.baseURL,
        generationModel: "test/coach",
        scoringModel: "test/scorer",
        timeoutMs,
        maxRetries: 0,
      });
    return createFallbackCoach({
      userModel: coach(ownApiKey, "user"),
      defaultModel: coach("sk-or-test", "default"),
      onUserKeyRejected: async () => undefined,
      onUserKeyAccepted: async () => undefined,
    });
  }

  async function breakerFailures(): Promise<number> {
    return ((await db.doc("systemState/llmBreaker").get()).get("consecutiveFailures") as number) ?? 0;
  }

  it.each([
    ["a provider error (503)", { kind: "status", status: 503 }],
    ["a timeout", { kind: "delay", delayMs: 1_500 }],
  ] as const)(
    "%s on the user's own key is their failure: counted until suspended, never reported to the shared breaker",
    async (_case, fault) => {
      const uid = `own-key-${fault.kind}`;
      await seedDueUser(db, { uid, now: NOW });
      const deps = realProcessorDeps({
        db,
        sandbox: services.sandbox,
        model: ownKeyCoach("sk-or-own", 500),
        suspension: { maxConsecutiveFailures: 2, suspensionMs: 24 * HOUR },
      });
      let now = NOW;
      for (let run = 1; run <= 2; run += 1) {
        services.sandbox.queueFaults([fault]);
        const result = await processUser({ deps, uid, now, bypassChecks: true });
        expect(result).toMatchObject({ kind: "processed", result: { outcome: "generation_failed" } });
        expect((await stateOf(uid)).consecutiveFailures).toBe(run);
        now += 60_000;
      }
      // Only the user's key was asked (no fallback on a 5xx or a timeout).
      expect(services.sandbox.requests.map((request) => request.authorization)).toEqual([
        "Bearer sk-or-own",
        "Bearer sk-or-own",
      ]);
      const state = await stateOf(uid);
      expect(state.status).toBe("suspended");
      expect((await db.doc(`users/${uid}`).get()).get("suspendUntil")).toBe(state.suspendUntil);
      expect(await breakerFailures()).toBe(0);
    },
  );

  it("a rate-limited own key falls back to the default key; the default key's outage is a deferral the breaker counts", async () => {
    const uid = "own-key-busy";
    await seedDueUser(db, { uid, now: NOW });
    const deps = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      // sk-or-busy… is answered 429 by the sandbox on every call.
      model: ownKeyCoach("sk-or-busy-own", 5_000),
      suspension: { maxConsecutiveFailures: 2, suspensionMs: 24 * HOUR },
    });
    let now = NOW;
    for (let run = 1; run <= 3; run += 1) {
      services.sandbox.queueFaults([{ kind: "status", status: 503 }]);
      const result = await processUser({ deps, uid, now, bypassChecks: true });
      expect(result).toMatchObject({ kind: "processed", result: { outcome: "provider_unavailable" } });
      expect((await stateOf(uid)).consecutiveFailures).toBe(0);
      // The own key's 429 is not counted; the default key's 503 is.
      expect(await breakerFailures()).toBe(run);
      now += 60_000;
    }
    expect((await stateOf(uid)).status).not.toBe("suspended");
  });

  it("a suspended user with a past due time is neither dispatched nor processed until suspendUntil", async () => {
    await seedDueUser(db, { uid: "paused", now: NOW });
    await db.doc("users/paused").update({ suspendUntil: NOW + 5 * HOUR });
    const deps = realProcessorDeps({ db, sandbox: services.sandbox });
    expect(await processUser({ deps, uid: "paused", now: NOW })).toMatchObject({
      kind: "skipped",
      reason: "suspended",
    });
    const dispatched: string[] = [];
    const run = await runScheduler({
      store: createFirestoreSchedulerStore(db),
      dispatcher: recordingDispatcher(dispatched),
      settings,
      now: NOW,
      trigger: "test",
      runId: "suspended-run",
      elapsedMs: () => 0,
    });
    expect(dispatched).toEqual([]);
    expect(run.results.skippedSuspended).toBe(1);
    expect(await dueOf("paused")).toBe(NOW + 5 * HOUR);
    expect(services.sandbox.requests).toHaveLength(0);
    // After suspendUntil the user is processed again.
    const after = await processUser({ deps, uid: "paused", now: NOW + 5 * HOUR, bypassChecks: true });
    expect(after).toMatchObject({ kind: "processed" });
  });
});

describe("LLM circuit breaker", () => {
  const breakerSettings = { failureThreshold: 3, cooldownMs: 10 * 60_000, probeTimeoutMs: 5 * 60_000 };

  it("opens after the configured failures, reschedules due users without LLM calls while open, closes after a good probe", async () => {
    const uids = ["b1", "b2", "b3", "b4", "b5"];
    for (const uid of uids) await seedDueUser(db, { uid, now: NOW });
    const deps = () =>
      realProcessorDeps({
        db,
        sandbox: services.sandbox,
        breaker: createFirestoreLlmBreaker(db, breakerSettings),
      });

    services.sandbox.queueFaults([
      { kind: "status", status: 503 },
      { kind: "status", status: 503 },
      { kind: "status", status: 503 },
    ]);
    for (const uid of ["b1", "b2", "b3"]) await processUser({ deps: deps(), uid, now: NOW });
    const breaker = (await db.doc("systemState/llmBreaker").get()).data();
    expect(breaker).toMatchObject({
      state: "open",
      consecutiveFailures: 3,
      openUntil: NOW + breakerSettings.cooldownMs,
    });
    expect(services.sandbox.requests).toHaveLength(3);

    // Open: the processor makes no call and gives the retry interval; the scheduler does not dispatch.
    const held = await processUser({ deps: deps(), uid: "b4", now: NOW + 60_000 });
    expect(held).toMatchObject({
      kind: "processed",
      result: { outcome: "breaker_open", messageGenerated: false },
    });
    expect(await dueOf("b4")).toBe(retryDueAt({ now: NOW + 60_000, frequency: "daily" }));
    // Held back without a message: ranked ahead of those who were served at the next due time.
    expect((await db.doc("users/b4").get()).get("coachingDueRank")).toBeLessThan(0);
    const dispatched: string[] = [];
    const run = await runScheduler({
      store: createFirestoreSchedulerStore(db),
      dispatcher: recordingDispatcher(dispatched),
      settings,
      now: NOW + 120_000,
      trigger: "test",
      runId: "breaker-run",
      elapsedMs: () => 0,
    });
    expect(run.results.breakerOpen).toBe(true);
    expect(run.results.deferredByBreaker).toBe(1);
    expect(dispatched).toEqual([]);
    expect(await dueOf("b5")).toBe(retryDueAt({ now: NOW + 120_000, frequency: "daily" }));
    expect(services.sandbox.requests).toHaveLength(3);
    // A breaker deferral is not the user's failure.
    expect((await stateOf("b4")).consecutiveFailures).toBe(0);

    // After the cool-down one probe goes through; it succeeds and closes the breaker.
    const later = NOW + breakerSettings.cooldownMs + 1;
    const probe = await processUser({ deps: deps(), uid: "b1", now: later, bypassChecks: true });
    expect(probe).toMatchObject({ kind: "processed", result: { outcome: "sent" } });
    expect((await db.doc("systemState/llmBreaker").get()).data()).toMatchObject({
      state: "closed",
      consecutiveFailures: 0,
    });
    expect(services.sandbox.requests).toHaveLength(5);
  });

  it("lets exactly one probe through after the cool-down", async () => {
    for (const uid of ["p1", "p2", "p3", "p4"]) await seedDueUser(db, { uid, now: NOW });
    await db.doc("systemState/llmBreaker").set({
      state: "open",
      consecutiveFailures: 3,
      openedAt: NOW - 20 * 60_000,
      openUntil: NOW - 10 * 60_000,
      lastFailureAt: NOW - 20 * 60_000,
      lastError: "503",
    });
    const gates = await Promise.all(
      Array.from({ length: 8 }, () => createFirestoreLlmBreaker(db, breakerSettings).acquire(NOW)),
    );
    expect(gates.filter((gate) => gate === "probe")).toHaveLength(1);
    expect(gates.filter((gate) => gate === "open")).toHaveLength(7);
  });
});

describe("cleanup", () => {
  it("deletes only what is older than the retention; a second run deletes nothing", async () => {
    const DAY = 24 * HOUR;
    const old = NOW - 31 * DAY;
    const recent = NOW - 29 * DAY;
    await putDocuments(db, "schedulerRuns", [
      ["old-run", { runId: "old-run", startedAt: old }],
      ["new-run", { runId: "new-run", startedAt: recent }],
    ]);
    await putDocuments(db, "events", [
      ["old-done", { status: "processed", processed_at: old, created_at: old }],
      ["new-done", { status: "processed", processed_at: recent, created_at: recent }],
      ["old-pending", { status: "pending", next_attempt_at: old, created_at: old }],
      ["old-dead", { status: "dead_letter", created_at: old }],
    ]);
    await putDocuments(db, "coachingMessages", [
      ["old-rejected", { uid: "u", status: "rejected", wasSent: false, createdAt: old }],
      ["old-failed", { uid: "u", status: "failed", wasSent: false, createdAt: old }],
      ["new-rejected", { uid: "u", status: "rejected", wasSent: false, createdAt: recent }],
      ["old-sent", { uid: "u", status: "sent", wasSent: true, createdAt: old }],
    ]);
    await putDocuments(db, "users/u/journalEntries", [["old-entry", { content: "x", createdAt: old }]]);
    const first = await runRetentionCleanup(db, { now: NOW, historyDays: 30, maxDeletes: 1000 });
    expect(first.deleted).toMatchObject({ schedulerRuns: 1, processedEvents: 1, unsentAttempts: 2 });
    expect(first.total).toBe(4);
    const ids = async (collection: string) =>
      (await db.collection(collection).get()).docs.map((doc) => doc.id).sort();
    expect(await ids("schedulerRuns")).toEqual(["new-run"]);
    expect(await ids("events")).toEqual(["new-done", "old-dead", "old-pending"]);
    expect(await ids("coachingMessages")).toEqual(["new-rejected", "old-sent"]);
    expect(await ids("users/u/journalEntries")).toEqual(["old-entry"]);
    const second = await runRetentionCleanup(db, { now: NOW, historyDays: 30, maxDeletes: 1000 });
    expect(second.total).toBe(0);
    expect(queriesMissingIndexes(services.handle.emulator.recordedQueries(), readIndexes())).toEqual([]);
  });
});

describe("processing state under kills and concurrency (issue 11, A6 and A11)", () => {
  it("a run killed after its claim counts as a failure; five killed runs suspend the user at the next claim", async () => {
    await seedDueUser(db, { uid: "killed", now: NOW });
    const deps = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      suspension: { maxConsecutiveFailures: 5, suspensionMs: 24 * HOUR },
      onStep: (step) => {
        if (step === "generated") throw new Error("killed by maxDuration");
      },
    });
    let now = NOW;
    for (let run = 1; run <= 5; run += 1) {
      await expect(processUser({ deps, uid: "killed", now })).rejects.toThrow("killed");
      expect((await stateOf("killed")).consecutiveFailures).toBe(run);
      now += deps.leaseMs + 1;
    }
    const logDeps = {
      store: deps.store,
      stateStore: createFirestoreProcessingStateStore(db),
      suspension: deps.suspension,
    };
    // A run that only finishes delivering an approved message is never stopped.
    expect(
      (await startRun(logDeps, { uid: "killed", slotId: "killed_5", now, resumesApprovedMessage: true }))
        .suspension,
    ).toBeNull();
    expect((await stateOf("killed")).status).toBe("running");
    const { suspension } = await startRun(logDeps, { uid: "killed", slotId: "killed_6", now });
    expect(suspension).toMatchObject({ suspendUntil: now + 24 * HOUR });
    expect(await stateOf("killed")).toMatchObject({ status: "suspended", suspendUntil: now + 24 * HOUR });
    expect((await db.doc("users/killed").get()).get("suspendUntil")).toBe(now + 24 * HOUR);
    expect(await dueOf("killed")).toBe(now + 24 * HOUR);
  });

  it("a suspension that has ended gives the user a run again", async () => {
    await seedDueUser(db, { uid: "returning", now: NOW });
    const deps = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      suspension: { maxConsecutiveFailures: 2, suspensionMs: HOUR },
    });
    for (let run = 0; run < 2; run += 1) {
      services.sandbox.queueFaults([{ kind: "status", status: 400 }]);
      await processUser({ deps, uid: "returning", now: NOW + run * 60_000, bypassChecks: true });
    }
    expect((await stateOf("returning")).status).toBe("suspended");
    const stateStore = createFirestoreProcessingStateStore(db);
    const later = NOW + 2 * HOUR;
    expect(
      (
        await startRun(
          { store: deps.store, stateStore, suspension: deps.suspension },
          { uid: "returning", slotId: "returning_x", now: later },
        )
      ).suspension,
    ).toBeNull();
  });

  it("concurrent duplicates and run starts lose no count and never roll the status back", async () => {
    const stateStore = createFirestoreProcessingStateStore(db);
    const deps = {
      store: realProcessorDeps({ db, sandbox: services.sandbox }).store,
      stateStore,
      suspension: { maxConsecutiveFailures: 100, suspensionMs: HOUR },
    };
    await stateStore.markRunning({
      uid: "racy",
      phase: "building_context",
      status: "running",
      currentSlotId: "racy_1",
      now: NOW,
    });
    await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        recordDuplicate(deps, { uid: "racy", now: NOW + index, reason: "slot racy_1 is being processed" }),
      ),
    );
    const state = await stateOf("racy");
    expect(state.stats.duplicatesSkipped).toBe(10);
    expect(state).toMatchObject({ status: "running", isProcessing: true, currentSlotId: "racy_1" });
    await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        stateStore.markRunning({
          uid: "counted",
          phase: "building_context",
          status: "running",
          currentSlotId: `counted_${index}`,
          now: NOW,
        }),
      ),
    );
    expect((await stateOf("counted")).consecutiveFailures).toBe(8);
  });
});
