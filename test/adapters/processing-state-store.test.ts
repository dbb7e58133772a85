/** The Firestore processing-state store (on the emulator) and its in-memory twin, held to one contract. */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COLLECTIONS } from "@/adapters/firestore/collections";
import { createFirestoreProcessingStateStore } from "@/adapters/firestore/processing-state-store";
import { createInMemoryProcessingStateStore } from "@/adapters/memory/processing-state-store";
import { createInMemoryDatabase, type InMemoryDatabase } from "@/adapters/memory/scheduler-store";
import { type EmulatorHandle, startTestEmulator } from "../support/firestore";
import { describeProcessingStateStoreContract } from "./processing-state-store.contract";

let handle: EmulatorHandle;
let db: Firestore;

beforeAll(async () => {
  handle = await startTestEmulator();
});
afterAll(async () => {
  await handle.stop();
});

describeProcessingStateStoreContract("Firestore", {
  async create() {
    db = handle.freshProject("processing-state").db;
    return createFirestoreProcessingStateStore(db);
  },
  async putUser(uid, document) {
    await db.collection(COLLECTIONS.users).doc(uid).set(document);
  },
  async readUser(uid) {
    return (await db.collection(COLLECTIONS.users).doc(uid).get()).data();
  },
});

let database: InMemoryDatabase = createInMemoryDatabase();

describeProcessingStateStoreContract("in-memory", {
  async create() {
    database = createInMemoryDatabase();
    return createInMemoryProcessingStateStore(database, new Map());
  },
  async putUser(uid, document) {
    database.users.set(uid, structuredClone(document));
  },
  async readUser(uid) {
    const document = database.users.get(uid);
    return document ? { ...document } : undefined;
  },
});

describe("Firestore processing state written by another hand", () => {
  it("reads fields of the wrong type as absent, keeping what parses (counters, usage, insights, the last run)", async () => {
    const project = handle.freshProject("processing-state-parse").db;
    const store = createFirestoreProcessingStateStore(project);
    const now = Date.parse("2026-11-30T12:00:00Z");
    await project
      .collection(COLLECTIONS.userProcessingState)
      .doc("u1")
      .set({
        status: 42,
        phase: "dancing",
        suspendUntil: "tomorrow",
        actionHistory: [{ timestamp: now, action: "generate" }, "not an entry"],
        recentErrors: "none",
        totalMessagesSent: 3,
        usage_default_d20261130_requests: 2,
        insights: { summary: "Sleeps badly before deadlines." },
        lastFinishedRun: "slot_1:token",
        updatedAt: now,
      });
    const state = await store.getState("u1");
    expect(state).toMatchObject({
      status: "waiting",
      phase: "idle",
      suspendUntil: null,
      recentErrors: [],
      lastFinishedRun: "slot_1:token",
      usage: { usage_default_d20261130_requests: 2 },
      insights: { summary: "Sleeps badly before deadlines." },
    });
    expect(state?.actionHistory).toHaveLength(1);
    expect(state?.stats.messagesSent).toBe(3);
  });
});
