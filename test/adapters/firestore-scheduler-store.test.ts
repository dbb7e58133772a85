import { afterAll, beforeAll, expect, it } from "vitest";
import { createFirestoreSchedulerStore } from "@/adapters/firestore/scheduler-store";
import { type EmulatorHandle, startTestEmulator } from "../support/firestore";
import { queriesMissingIndexes, readIndexes } from "../support/index-coverage";
import { describeSchedulerStoreContract } from "./scheduler-store.contract";

let handle: EmulatorHandle;
let db: FirebaseFirestore.Firestore;

beforeAll(async () => {
  handle = await startTestEmulator();
});
afterAll(async () => {
  await handle.stop();
});

describeSchedulerStoreContract("Firestore", {
  async create() {
    db = handle.freshProject("store").db;
    return createFirestoreSchedulerStore(db);
  },
  async putUser(uid, document) {
    await db.collection("users").doc(uid).set(document);
  },
  async readUser(uid) {
    return (await db.collection("users").doc(uid).get()).data();
  },
  async readRun(runId) {
    return (await db.collection("schedulerRuns").doc(runId).get()).data();
  },
});

it("issues only queries that firestore.indexes.json can serve", () => {
  const queries = handle.emulator.recordedQueries();
  expect(queries.length).toBeGreaterThan(0);
  expect(queriesMissingIndexes(queries, readIndexes())).toEqual([]);
});
