/** The Firestore processing-state store (on the emulator) and its in-memory twin, held to one contract. */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll } from "vitest";
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
