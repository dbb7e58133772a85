import type { Firestore } from "firebase-admin/firestore";
import { beforeEach, describe, expect, it } from "vitest";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import type { SlotRecord } from "@/core/due-slot";
import { closeStaleSlots, STALE_SLOT_AFTER_MS } from "@/pipeline/close-stale-slots";
import type { LlmBreaker } from "@/pipeline/llm-limit-ports";
import { type CoachModel, llmCallRecord } from "@/pipeline/model-ports";
import { acceptUserRun, type ProcessorDeps, runClaimedSlot } from "@/pipeline/process-user";
import type { ProcessorStore } from "@/pipeline/processor-store-ports";
import { runSlotSafely } from "@/services/processor";
import { processUser } from "../../../scripts/support/process-user";
import { putDocuments } from "../../support/firestore";
import {
  drainEvents,
  fixedModel,
  HOUR,
  realEventDeps,
  realProcessorDeps,
  sandboxModel,
  seedDueUser,
  seedEarlierRunState,
} from "../../support/processor";
import { localServicesForFile } from "../../support/stack";

const services = localServicesForFile();
let db: Firestore;

beforeEach(() => {
  ({ db } = services.handle.freshProject("recovery"));
});

const NOW = Date.now();

/** The real store with one operation failing, as Firestore does when it is unavailable. */
function failing(store: ProcessorStore, operation: keyof ProcessorStore, fired: string[]): ProcessorStore {
  return {
    ...store,
    [operation]: async () => {
      fired.push(operation);
      throw new Error(`Firestore ${operation} failed: 14 UNAVAILABLE`);
    },
  };
}

/** The claim's write: the lease create() and the slot, one batch (two writes before the fix). */
const CLAIM_OPERATION: keyof ProcessorStore = "claimSlot";

/**
 * The real store with one operation that applies and then reports failure, once (a timeout):
 * on its first call, or on the call after `skipCalls` calls that go through.
 */
function appliesThenFails(
  store: ProcessorStore,
  operation: keyof ProcessorStore,
  fired: string[],
  skipCalls = 0,
): ProcessorStore {
  const real = store[operation] as (...input: unknown[]) => Promise<unknown>;
  let calls = 0;
  return {
    ...store,
    [operation]: async (...input: unknown[]) => {
      const result = await real(...input);
      calls += 1;
      if (calls !== skipCalls + 1) return result;
      fired.push(operation);
      throw new Error(`Firestore ${operation} failed: 4 DEADLINE_EXCEEDED`);
    },
  };
}

/**
 * The emulator's Firestore with its `nth` batch commit applying and then answering ALREADY_EXISTS:
 * what the client library reports when it retries a commit whose first answer was lost (ABORTED,
 * UNAVAILABLE) and the first try had applied.
 */
function retriedCommitAt(target: Firestore, nth: number, fired: string[]): Firestore {
  let commits = 0;
  return new Proxy(target, {
    get(database, property) {
      if (property === "batch") {
        return () => {
          const batch = database.batch();
          const commit = batch.commit.bind(batch);
          batch.commit = async () => {
            const written = await commit();
            commits += 1;
            if (commits !== nth) return written;
            fired.push(`commit ${nth}`);
            throw Object.assign(new Error("6 ALREADY_EXISTS: Document already exists"), { code: 6 });
          };
          return batch;
        };
      }
      const value = Reflect.get(database, property, database);
      return typeof value === "function" ? value.bind(database) : value;
    },
  });
}

/**
 * The emulator's Firestore with the first `create()` in `collection` applying and then answering
 * ALREADY_EXISTS, as the client library's retry of a lost answer does.
 */
function retriedCreateIn(target: Firestore, collection: string, fired: string[]): Firestore {
  let retried = false;
  return new Proxy(target, {
    get(database, property) {
      if (property === "collection") {
        return (name: string) => {
          const real = database.collection(name);
          if (name !== collection) return real;
          return new Proxy(real, {
            get(references, key) {
              if (key !== "doc") return Reflect.get(references, key, references);
              return (id: string) => {
                const document = references.doc(id);
                const create = document.create.bind(document);
                document.create = async (data) => {
                  const written = await create(data);
                  if (retried) return written;
                  retried = true;
                  fired.push(`create in ${collection}`);
                  throw Object.assign(new Error("6 ALREADY_EXISTS: Document already exists"), { code: 6 });
                };
                return document;
              };
            },
          });
        };
      }
      const value = Reflect.get(database, property, database);
      return typeof value === "function" ? value.bind(database) : value;
    },
  });
}

async function sentMessagesOf(uid: string) {
  const snapshot = await db.collection("coachingMessages").where("uid", "==", uid).get();
  return snapshot.docs.filter((document) => document.get("wasSent") === true);
}

/** The user's processing state document as stored. */
async function processingStateOf(uid: string) {
  return (await db.doc(`userProcessingState/${uid}`).get()).data();
}

/** Runs the outbox over every pending event at `now`, its emails going to the mail catcher. */
async function deliverPendingEvents(now: number) {
  await drainEvents(realEventDeps({ db, catcher: services.catcher }), now);
}

/** The emails the mail catcher received for `uid` (seeded as `${uid}@example.com`). */
function emailsTo(uid: string) {
  return services.catcher.emails.filter((email) => email.to[0] === `${uid}@example.com`);
}

async function slotOf(uid: string): Promise<SlotRecord> {
  const snapshot = await db.collection("coachingSlots").where("uid", "==", uid).get();
  return snapshot.docs[0]?.data() as SlotRecord;
}

describe("a run that throws", () => {
  it("before a message was approved: the slot fails, the user gets the retry interval and an error entry", async () => {
    await seedDueUser(db, { uid: "unlucky", now: NOW, frequency: "daily" });
    const fired: string[] = [];
    const base = realProcessorDeps({ db, sandbox: services.sandbox });
    const deps = { ...base, store: failing(base.store, "listJournalEntries", fired) };
    const accepted = await acceptUserRun({ deps, uid: "unlucky", now: NOW });
    if (accepted.kind !== "claimed") throw new Error(`not claimed: ${accepted.kind}`);
    const outcome = await runSlotSafely({ deps, claim: accepted.claim, now: NOW });
    expect(fired).toEqual(["listJournalEntries"]);
    expect(outcome).toMatchObject({ outcome: "generation_failed", messageGenerated: false });
    expect((await db.doc("users/unlucky").get()).get("nextCoachingMessageDue")).toBeGreaterThan(NOW + HOUR);
    expect(await slotOf("unlucky")).toMatchObject({ status: "completed", outcome: "generation_failed" });
    const state = await processingStateOf("unlucky");
    expect(state?.recentErrors?.[0]).toMatchObject({
      errorType: "error",
      errorMessage: expect.stringContaining("UNAVAILABLE"),
    });
  });

  it("after the message was stored: its batch completed the slot, and the recovery finishes the reschedule and the run", async () => {
    await seedDueUser(db, { uid: "halfway", now: NOW });
    const fired: string[] = [];
    const base = realProcessorDeps({ db, sandbox: services.sandbox });
    const deps: ProcessorDeps = {
      ...base,
      onStep: (step) => {
        if (step !== "message_sent") return;
        fired.push(step);
        throw new Error("UNAVAILABLE: simulated failure after the message was stored");
      },
    };
    const accepted = await acceptUserRun({ deps, uid: "halfway", now: NOW });
    if (accepted.kind !== "claimed") throw new Error(`not claimed: ${accepted.kind}`);
    const outcome = await runSlotSafely({ deps, claim: accepted.claim, now: NOW });
    expect(fired).toEqual(["message_sent"]);
    const slot = await slotOf("halfway");
    expect(outcome).toMatchObject({ outcome: "sent", messageId: slot.slotId, superseded: false });
    expect(slot).toMatchObject({ status: "completed", outcome: "sent", messageId: slot.slotId });
    expect((await db.doc("users/halfway").get()).get("nextCoachingMessageDue")).toBe(
      slot.nextCoachingMessageDue,
    );
    expect(await processingStateOf("halfway")).toMatchObject({
      isProcessing: false,
      consecutiveFailures: 0,
      unfinishedRuns: 0,
    });

    const later = Date.now() + 1_000;
    expect((await acceptUserRun({ deps: base, uid: "halfway", now: later })).kind).toBe("skipped");
    await deliverPendingEvents(later);
    expect(emailsTo("halfway")).toHaveLength(1);
    expect(await sentMessagesOf("halfway")).toHaveLength(1);
  });
});

describe("claims that never finished", () => {
  it("a lease 1 an older version created without its slot write does not hold the slot: the claim is the slot's create(), and delivers once", async () => {
    await seedDueUser(db, { uid: "half-claimed", now: NOW });
    const deps = realProcessorDeps({ db, sandbox: services.sandbox });
    const slotId = `half-claimed_${NOW - HOUR}`;
    // What an older version left when its slot write failed after the lease create().
    await putDocuments(db, "coachingSlotLeases", [
      [`${slotId}_1`, { slotId, leaseNumber: 1, uid: "half-claimed", claimedAt: NOW }],
    ]);
    const resumed = await processUser({ deps, uid: "half-claimed", now: NOW + 60_000 });
    expect(resumed).toMatchObject({ kind: "processed", result: { outcome: "sent", messageId: slotId } });
    await deliverPendingEvents(NOW + 60_000);
    expect(emailsTo("half-claimed")).toHaveLength(1);
    expect(await sentMessagesOf("half-claimed")).toHaveLength(1);
    expect(await slotOf("half-claimed")).toMatchObject({ status: "completed", outcome: "sent" });
  });

  it("a claim that applied but reported failure is resumed by a later run once its lease expires", async () => {
    await seedDueUser(db, { uid: "ambiguous", now: NOW });
    const fired: string[] = [];
    const base = realProcessorDeps({ db, sandbox: services.sandbox });
    const deps = { ...base, store: appliesThenFails(base.store, CLAIM_OPERATION, fired) };
    await expect(acceptUserRun({ deps, uid: "ambiguous", now: NOW })).rejects.toThrow("DEADLINE_EXCEEDED");
    expect(fired).toEqual([CLAIM_OPERATION]);
    expect(await slotOf("ambiguous")).toMatchObject({ status: "running" });
    expect((await acceptUserRun({ deps: base, uid: "ambiguous", now: NOW + 60_000 })).kind).toBe("busy");

    const later = NOW + base.leaseMs + 1;
    const resumed = await processUser({ deps: base, uid: "ambiguous", now: later });
    expect(resumed).toMatchObject({ kind: "processed", result: { outcome: "sent" } });
    expect(await sentMessagesOf("ambiguous")).toHaveLength(1);
  });

  it("a run whose lease expired and was taken over cannot complete the slot or reschedule the user", async () => {
    await seedDueUser(db, { uid: "overtaken", now: NOW });
    const base = realProcessorDeps({ db, sandbox: services.sandbox });
    const stale = await acceptUserRun({ deps: base, uid: "overtaken", now: NOW });
    if (stale.kind !== "claimed") throw new Error(`not claimed: ${stale.kind}`);
    const later = NOW + base.leaseMs + 1;
    let takeover: unknown;
    // The stale run's generation hangs past its lease; meanwhile a later run takes the slot over
    // and delivers, then the stale run's generation fails.
    const real = sandboxModel(services.sandbox);
    const slowModel: CoachModel = {
      ...real,
      async generateMessage(input) {
        takeover = await processUser({ deps: base, uid: "overtaken", now: later });
        const result = await real.generateMessage(input);
        return {
          ok: false,
          retriable: true,
          reason: "HTTP 500",
          statusCode: 500,
          call: { ...result.call, ok: false, error: "HTTP 500" },
        };
      },
    };
    const staleOutcome = await runClaimedSlot({
      deps: { ...base, resolveModel: fixedModel(slowModel) },
      claim: stale.claim,
      now: later + 1_000,
    });
    expect(takeover).toMatchObject({ kind: "processed", result: { outcome: "sent" } });
    const deliveredDue = (takeover as { result: { nextCoachingMessageDue: number } }).result
      .nextCoachingMessageDue;
    expect(staleOutcome).toMatchObject({ superseded: true, messageGenerated: false });
    expect(await slotOf("overtaken")).toMatchObject({ status: "completed", outcome: "sent" });
    expect((await db.doc("users/overtaken").get()).get("nextCoachingMessageDue")).toBe(deliveredDue);
  });
});

describe("the LLM breaker's probe", () => {
  function probeBreaker(calls: string[]): LlmBreaker {
    return {
      acquire: async () => {
        calls.push("acquire");
        return "probe";
      },
      recordSuccess: async () => {
        calls.push("recordSuccess");
      },
      recordFailure: async () => {
        calls.push("recordFailure");
      },
      releaseProbe: async () => {
        calls.push("releaseProbe");
      },
    };
  }

  it("is released when the run stops for a quota before any call is reported", async () => {
    await seedDueUser(db, { uid: "probe-quota", now: NOW });
    const calls: string[] = [];
    const base = realProcessorDeps({ db, sandbox: services.sandbox });
    const overQuota: CoachModel = {
      ...sandboxModel(services.sandbox),
      generateMessage: async () => ({
        ok: false,
        retriable: true,
        reason: "quota used up",
        statusCode: null,
        quotaRetryAt: NOW + 60_000,
        call: llmCallRecord({
          purpose: "generation",
          model: "test/coach",
          keySource: "default",
          error: "quota used up",
        }),
      }),
    };
    const deps = { ...base, breaker: probeBreaker(calls), resolveModel: fixedModel(overQuota) };
    const result = await processUser({ deps, uid: "probe-quota", now: NOW });
    expect(result).toMatchObject({ result: { outcome: "quota_exceeded" } });
    expect(calls).toEqual(["acquire", "releaseProbe"]);
  });

  it("is released when resolving the user's model throws", async () => {
    await seedDueUser(db, { uid: "probe-throws", now: NOW });
    const calls: string[] = [];
    const base = realProcessorDeps({ db, sandbox: services.sandbox });
    const deps = {
      ...base,
      breaker: probeBreaker(calls),
      resolveModel: async () => {
        throw new Error("key store unavailable");
      },
    };
    const accepted = await acceptUserRun({ deps, uid: "probe-throws", now: NOW });
    if (accepted.kind !== "claimed") throw new Error(`not claimed: ${accepted.kind}`);
    await expect(runClaimedSlot({ deps, claim: accepted.claim, now: NOW })).rejects.toThrow(
      "key store unavailable",
    );
    expect(calls).toEqual(["acquire", "releaseProbe"]);
  });

  it("is released when reading the journal throws", async () => {
    await seedDueUser(db, { uid: "probe-journal", now: NOW });
    const calls: string[] = [];
    const fired: string[] = [];
    const base = realProcessorDeps({ db, sandbox: services.sandbox });
    const deps = {
      ...base,
      breaker: probeBreaker(calls),
      store: failing(base.store, "listJournalEntries", fired),
    };
    const accepted = await acceptUserRun({ deps, uid: "probe-journal", now: NOW });
    if (accepted.kind !== "claimed") throw new Error(`not claimed: ${accepted.kind}`);
    await expect(runClaimedSlot({ deps, claim: accepted.claim, now: NOW })).rejects.toThrow("UNAVAILABLE");
    expect(fired).toEqual(["listJournalEntries"]);
    expect(calls).toEqual(["acquire", "releaseProbe"]);
  });

  it("is reported, not released, when the call was made", async () => {
    await seedDueUser(db, { uid: "probe-ok", now: NOW });
    const calls: string[] = [];
    const deps = { ...realProcessorDeps({ db, sandbox: services.sandbox }), breaker: probeBreaker(calls) };
    await processUser({ deps, uid: "probe-ok", now: NOW });
    expect(calls).toEqual(["acquire", "recordSuccess", "recordSuccess"]);
  });

  it("is released when its success cannot be written, and the run still sends", async () => {
    await seedDueUser(db, { uid: "probe-unwritten", now: NOW });
    const calls: string[] = [];
    const unwritable: LlmBreaker = {
      ...probeBreaker(calls),
      recordSuccess: async () => {
        calls.push("recordSuccess");
        throw new Error("Firestore close LLM breaker failed: 10 ABORTED");
      },
    };
    const deps = { ...realProcessorDeps({ db, sandbox: services.sandbox }), breaker: unwritable };
    const result = await processUser({ deps, uid: "probe-unwritten", now: NOW });
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "sent" } });
    expect(calls).toEqual(["acquire", "recordSuccess", "recordSuccess", "releaseProbe"]);
  });
});

describe("the LLM breaker's writes", () => {
  /** A breaker that lets calls through and whose `failing` write throws, as when Firestore is unavailable. */
  function breakerFailingOn(failing: "recordSuccess" | "recordFailure", fired: string[]): LlmBreaker {
    const write = (method: "recordSuccess" | "recordFailure") => async () => {
      if (method !== failing) return;
      fired.push(method);
      throw new Error(`Firestore ${method} failed: 14 UNAVAILABLE`);
    };
    return {
      acquire: async () => "closed",
      recordSuccess: write("recordSuccess"),
      recordFailure: write("recordFailure"),
      releaseProbe: async () => undefined,
    };
  }

  it("a success that cannot be written to the breaker still sends the generated message", async () => {
    await seedDueUser(db, { uid: "breaker-down", now: NOW });
    const fired: string[] = [];
    const deps = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      breaker: breakerFailingOn("recordSuccess", fired),
    });
    const result = await processUser({ deps, uid: "breaker-down", now: NOW });
    expect(fired).toContain("recordSuccess");
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "sent", messageGenerated: true } });
    expect(await sentMessagesOf("breaker-down")).toHaveLength(1);
  });

  it("a failure that cannot be written to the breaker ends the slot with the call's own outcome", async () => {
    await seedDueUser(db, { uid: "breaker-down-failing", now: NOW });
    const fired: string[] = [];
    const deps = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      breaker: breakerFailingOn("recordFailure", fired),
    });
    services.sandbox.queueFaults([{ kind: "status", status: 400, message: "bad request" }]);
    const result = await processUser({ deps, uid: "breaker-down-failing", now: NOW });
    expect(fired).toEqual(["recordFailure"]);
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "generation_failed" } });
    expect((await slotOf("breaker-down-failing")).failureReason).toContain("generation failed");
  });
});

describe("storing the sent message with its journal entry and delivery event", () => {
  it("applied but reported failure: the slot names this run, so the recovery finishes it, and the message is delivered once", async () => {
    await seedDueUser(db, { uid: "sent-unsure", now: NOW });
    const fired: string[] = [];
    const base = realProcessorDeps({ db, sandbox: services.sandbox });
    const deps = { ...base, store: appliesThenFails(base.store, "storeSentMessage", fired) };
    const accepted = await acceptUserRun({ deps, uid: "sent-unsure", now: NOW });
    if (accepted.kind !== "claimed") throw new Error(`not claimed: ${accepted.kind}`);
    const slotId = accepted.claim.slot.slotId;
    expect(await runSlotSafely({ deps, claim: accepted.claim, now: NOW })).toMatchObject({
      outcome: "sent",
      messageId: slotId,
      superseded: false,
    });
    expect(fired).toEqual(["storeSentMessage"]);
    expect((await db.doc(`events/coaching.message.created_${slotId}`).get()).exists).toBe(true);
    expect(await processingStateOf("sent-unsure")).toMatchObject({
      isProcessing: false,
      consecutiveFailures: 0,
      unfinishedRuns: 0,
    });

    const later = Date.now() + 1_000;
    expect((await processUser({ deps: base, uid: "sent-unsure", now: later })).kind).toBe("skipped");
    await deliverPendingEvents(later);
    expect(emailsTo("sent-unsure")).toHaveLength(1);
    expect(await sentMessagesOf("sent-unsure")).toHaveLength(1);
    expect(await slotOf("sent-unsure")).toMatchObject({ status: "completed", outcome: "sent" });
  });
});

describe("completing a slot", () => {
  it("applied but reported failure: the recovery knows the completion as its own and finishes the run", async () => {
    await seedDueUser(db, { uid: "done-unsure", now: NOW });
    const fired: string[] = [];
    const base = realProcessorDeps({ db, sandbox: services.sandbox });
    // The first claimSlot is the claim; the second is the fenced completion of a run that made
    // no message (a sent message's slot is completed by its batch instead).
    const failingModel: CoachModel = {
      ...sandboxModel(services.sandbox),
      generateMessage: async () => ({
        ok: false,
        retriable: false,
        reason: "HTTP 400",
        statusCode: 400,
        call: llmCallRecord({
          purpose: "generation",
          model: "test/coach",
          keySource: "default",
          error: "HTTP 400",
        }),
      }),
    };
    const deps = {
      ...base,
      resolveModel: fixedModel(failingModel),
      store: appliesThenFails(base.store, "claimSlot", fired, 1),
    };
    const accepted = await acceptUserRun({ deps, uid: "done-unsure", now: NOW });
    if (accepted.kind !== "claimed") throw new Error(`not claimed: ${accepted.kind}`);
    expect(await runSlotSafely({ deps, claim: accepted.claim, now: NOW })).toMatchObject({
      outcome: "generation_failed",
      superseded: false,
    });
    expect(fired).toEqual(["claimSlot"]);
    // The run's end is recorded once, as the failure it was: not left "running" with the claim's
    // provisional count, nor counted twice.
    expect(await processingStateOf("done-unsure")).toMatchObject({
      isProcessing: false,
      consecutiveFailures: 1,
      unfinishedRuns: 0,
    });
    const slot = await slotOf("done-unsure");
    expect(slot).toMatchObject({ status: "completed", outcome: "generation_failed" });
    expect(slot.nextCoachingMessageDue).toBeGreaterThan(NOW);
    expect((await db.doc("users/done-unsure").get()).get("nextCoachingMessageDue")).toBe(
      slot.nextCoachingMessageDue,
    );
  });
});

describe("a run's end recorded once", () => {
  it("a suspension whose user-document write fails after the state's applied: recovery finishes it without counting the run twice", async () => {
    await seedDueUser(db, { uid: "suspend-unsure", now: NOW });
    const base = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      suspension: { maxConsecutiveFailures: 1, suspensionMs: 24 * HOUR },
    });
    let failed = false;
    const deps: ProcessorDeps = {
      ...base,
      stateStore: {
        ...base.stateStore,
        setUserSuspension: async (input) => {
          if (!failed) {
            failed = true;
            throw new Error("Firestore setUserSuspension failed: 14 UNAVAILABLE");
          }
          return base.stateStore.setUserSuspension(input);
        },
      },
    } as ProcessorDeps;
    services.sandbox.queueFaults([{ kind: "status", status: 400 }]);
    const accepted = await acceptUserRun({ deps, uid: "suspend-unsure", now: NOW });
    if (accepted.kind !== "claimed") throw new Error(`not claimed: ${accepted.kind}`);
    const outcome = await runSlotSafely({ deps, claim: accepted.claim, now: NOW });
    expect(failed).toBe(true);
    expect(outcome).toMatchObject({ outcome: "generation_failed" });
    const state = (await processingStateOf("suspend-unsure")) ?? {};
    expect(state.status).toBe("suspended");
    expect(state.totalErrors).toBe(1);
    const finished = (state.actionHistory as { action: string }[]).filter(
      (entry) => entry.action === "run_finished",
    );
    expect(finished).toHaveLength(1);
    // The suspension reached the user document on the recovery's second try.
    expect((await db.doc("users/suspend-unsure").get()).get("suspendUntil")).toBe(state.suspendUntil);
    expect((await db.doc("users/suspend-unsure").get()).get("nextCoachingMessageDue")).toBe(
      state.suspendUntil,
    );
  });
});

describe("a slot write whose commit applied but was retried into ALREADY_EXISTS", () => {
  it("a claim reads its own slot create() as its own and runs the slot, instead of answering busy", async () => {
    await seedDueUser(db, { uid: "claim-retried", now: NOW });
    const fired: string[] = [];
    const deps = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      store: createFirestoreProcessorStore(retriedCreateIn(db, "coachingSlots", fired)),
    });
    const result = await processUser({ deps, uid: "claim-retried", now: NOW });
    expect(fired).toEqual(["create in coachingSlots"]);
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "sent", superseded: false } });
    expect(await sentMessagesOf("claim-retried")).toHaveLength(1);
  });

  it("a sent message's batch (which completes the slot) is known as its own: the user is rescheduled and the run is finished", async () => {
    await seedDueUser(db, { uid: "done-retried", now: NOW });
    const fired: string[] = [];
    // Batch commits: the sent message with its entry, event and slot completion (the claim is a create()).
    const deps = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      store: createFirestoreProcessorStore(retriedCommitAt(db, 1, fired)),
    });
    const result = await processUser({ deps, uid: "done-retried", now: NOW });
    expect(fired).toEqual(["commit 1"]);
    expect(result).toMatchObject({ kind: "processed", result: { outcome: "sent", superseded: false } });
    const slot = await slotOf("done-retried");
    expect(slot).toMatchObject({ status: "completed", outcome: "sent" });
    expect((await db.doc("users/done-retried").get()).get("nextCoachingMessageDue")).toBe(
      slot.nextCoachingMessageDue,
    );
    expect(await processingStateOf("done-retried")).toMatchObject({
      isProcessing: false,
      consecutiveFailures: 0,
      unfinishedRuns: 0,
    });
  });
});

describe("open slots left behind", () => {
  const orphanSlot = (uid: string, dueAt: number) => ({
    slotId: `${uid}_${dueAt}`,
    uid,
    dueAt,
    forced: false,
    status: "running",
    leaseNumber: 1,
    leaseUntil: dueAt + HOUR,
    outcome: null,
    messageId: null,
    nextCoachingMessageDue: null,
    failureReason: null,
    createdAt: dueAt,
    updatedAt: dueAt,
  });

  it("a slot that died before approval and whose user moved on is closed by the scheduler's sweep, not left running", async () => {
    await seedDueUser(db, { uid: "moved-on", now: NOW });
    // The run that left the slot died after its start (the state it wrote at its claim).
    await seedEarlierRunState(db, { uid: "moved-on", now: NOW - 30 * HOUR });
    const orphan = orphanSlot("moved-on", NOW - 30 * HOUR);
    await putDocuments(db, "coachingSlots", [[orphan.slotId, orphan]]);
    const deps = realProcessorDeps({ db, sandbox: services.sandbox });
    // The user's run neither waits for it nor looks for it.
    expect(await processUser({ deps, uid: "moved-on", now: NOW })).toMatchObject({
      kind: "processed",
      result: { outcome: "sent" },
    });
    const store = createFirestoreProcessorStore(db);
    // A lease that ended under STALE_SLOT_AFTER_MS ago may still be taken over: left alone.
    expect(
      await closeStaleSlots({ store, now: orphan.leaseUntil + STALE_SLOT_AFTER_MS - 1, limit: 100 }),
    ).toMatchObject({
      closed: 0,
    });
    expect(await closeStaleSlots({ store, now: NOW, limit: 100 })).toMatchObject({
      closed: 1,
      heldMessage: 0,
    });
    const closed = (await db.doc(`coachingSlots/${orphan.slotId}`).get()).data() as SlotRecord;
    expect(closed).toMatchObject({ status: "completed", outcome: "generation_failed", leaseNumber: 2 });
    expect(closed.failureReason).toContain("abandoned");
    expect(await sentMessagesOf("moved-on")).toHaveLength(1);
    // A second sweep finds nothing.
    expect(await closeStaleSlots({ store, now: NOW, limit: 100 })).toEqual({
      closed: 0,
      delivered: 0,
      heldMessage: 0,
      lost: 0,
    });
  });

  it("a stale slot holding an older version's approved message is finished by the sweep: put in the journal, sent once, emailed once", async () => {
    await seedDueUser(db, { uid: "legacy-approved", now: NOW });
    const orphan = orphanSlot("legacy-approved", NOW - 30 * HOUR);
    await putDocuments(db, "coachingSlots", [[orphan.slotId, orphan]]);
    await putDocuments(db, "coachingMessages", [
      [
        orphan.slotId,
        {
          id: orphan.slotId,
          uid: "legacy-approved",
          slotId: orphan.slotId,
          createdAt: NOW - 30 * HOUR,
          updatedAt: NOW - 30 * HOUR,
          status: "approved",
          messageContent: "A message an older version approved and never sent.",
          messageType: "check_in",
          pushNotificationText: "A note",
          wasSent: false,
          sentAt: null,
          journalEntryId: null,
          scheduledFor: orphan.dueAt,
          delivery: {
            email: { status: "pending", providerId: null, error: null, attemptedAt: null },
            push: { status: "pending", text: null },
          },
        },
      ],
    ]);
    const store = createFirestoreProcessorStore(db);
    expect(await closeStaleSlots({ store, now: NOW, limit: 100 })).toEqual({
      closed: 0,
      delivered: 1,
      heldMessage: 0,
      lost: 0,
    });
    expect(await slotOf("legacy-approved")).toMatchObject({
      status: "completed",
      outcome: "sent",
      messageId: orphan.slotId,
    });
    expect((await db.doc(`coachingMessages/${orphan.slotId}`).get()).data()).toMatchObject({
      status: "sent",
      wasSent: true,
      journalEntryId: `coaching_${orphan.slotId}`,
    });
    expect(
      (await db.doc(`users/legacy-approved/journalEntries/coaching_${orphan.slotId}`).get()).exists,
    ).toBe(true);
    await deliverPendingEvents(NOW);
    expect(emailsTo("legacy-approved")).toHaveLength(1);
    // Done: a second sweep finds nothing, and sends nothing again.
    expect(await closeStaleSlots({ store, now: NOW + HOUR, limit: 100 })).toMatchObject({ delivered: 0 });
    await deliverPendingEvents(NOW + HOUR);
    expect(emailsTo("legacy-approved")).toHaveLength(1);
  });

  it("a stale slot holding a message for a user who switched coaching off is left as it is", async () => {
    await seedDueUser(db, { uid: "paused-legacy", now: NOW });
    await db.doc("users/paused-legacy").update({ "coachingConfig.enableCoachingMessages": false });
    const orphan = orphanSlot("paused-legacy", NOW - 30 * HOUR);
    await putDocuments(db, "coachingSlots", [[orphan.slotId, orphan]]);
    await putDocuments(db, "coachingMessages", [
      [
        orphan.slotId,
        {
          id: orphan.slotId,
          uid: "paused-legacy",
          slotId: orphan.slotId,
          status: "approved",
          wasSent: false,
          createdAt: NOW - 30 * HOUR,
        },
      ],
    ]);
    expect(
      await closeStaleSlots({ store: createFirestoreProcessorStore(db), now: NOW, limit: 100 }),
    ).toMatchObject({
      heldMessage: 1,
      delivered: 0,
    });
    // Released under its next lease with a fresh expiry, so it goes to the back of the sweep's order.
    expect(await slotOf("paused-legacy")).toMatchObject({
      status: "running",
      leaseNumber: 2,
      leaseUntil: NOW,
    });
  });
});

describe("runs that never finish", () => {
  it("suspend the user at the next claim once they reach the failure limit, without another LLM call, and close the slot", async () => {
    await seedDueUser(db, { uid: "always-killed", now: NOW });
    const deps = realProcessorDeps({
      db,
      sandbox: services.sandbox,
      suspension: { maxConsecutiveFailures: 2, suspensionMs: 24 * HOUR },
      onStep: (step) => {
        if (step === "generated") throw new Error("killed by maxDuration");
      },
    });
    services.sandbox.requests.length = 0;
    let now = NOW;
    for (let run = 0; run < 2; run += 1) {
      await expect(processUser({ deps, uid: "always-killed", now })).rejects.toThrow("killed");
      now += deps.leaseMs + 1;
    }
    const calls = services.sandbox.requests.length;
    const third = await processUser({ deps, uid: "always-killed", now });
    expect(third).toMatchObject({
      kind: "skipped",
      reason: "suspended",
      nextCoachingMessageDue: now + 24 * HOUR,
    });
    expect(services.sandbox.requests).toHaveLength(calls);
    expect((await db.doc("users/always-killed").get()).get("nextCoachingMessageDue")).toBe(now + 24 * HOUR);
    expect(await slotOf("always-killed")).toMatchObject({ status: "completed" });
  });
});
