import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll } from "vitest";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import {
  createInMemoryProcessorData,
  createInMemoryProcessorStore,
  type InMemoryProcessorData,
} from "@/adapters/memory/processor-store";
import { createInMemoryDatabase } from "@/adapters/memory/scheduler-store";
import type { EventRecord } from "@/core/events";
import type { CoachingJournalEntry } from "@/pipeline/processor-store-ports";
import { type EmulatorHandle, startTestEmulator } from "../support/firestore";
import { describeProcessorStoreContract } from "./processor-store.contract";

let handle: EmulatorHandle;
let db: Firestore;

beforeAll(async () => {
  handle = await startTestEmulator();
});
afterAll(async () => {
  await handle.stop();
});

describeProcessorStoreContract("Firestore", {
  async create() {
    db = handle.freshProject("processor-store").db;
    return createFirestoreProcessorStore(db);
  },
  async putLease(leaseId, lease) {
    await db.collection("coachingSlotLeases").doc(leaseId).set(lease);
  },
  async putEvent(event) {
    await db.collection("events").doc(event.id).set(event);
  },
  async readEvent(eventId) {
    return (await db.collection("events").doc(eventId).get()).data();
  },
  async readJournalEntry(uid, entryId) {
    return (await db.doc(`users/${uid}/journalEntries/${entryId}`).get()).data();
  },
  async putUser(uid, document) {
    await db.collection("users").doc(uid).set(document);
  },
  async readUser(uid) {
    return (await db.collection("users").doc(uid).get()).data();
  },
});

let data: InMemoryProcessorData = createInMemoryProcessorData();
let database = createInMemoryDatabase();

describeProcessorStoreContract("in-memory", {
  async create() {
    data = createInMemoryProcessorData();
    database = createInMemoryDatabase();
    return createInMemoryProcessorStore(database, data);
  },
  async putUser(uid, document) {
    database.users.set(uid, structuredClone(document));
  },
  async readUser(uid) {
    const user = database.users.get(uid);
    return user ? { ...user } : undefined;
  },
  async putLease(leaseId, lease) {
    data.leases.set(leaseId, lease as { claimedAt: number });
  },
  async putEvent(event: EventRecord) {
    data.events.set(event.id, structuredClone(event));
  },
  async readEvent(eventId) {
    const event = data.events.get(eventId);
    return event ? { ...event } : undefined;
  },
  async readJournalEntry(uid, entryId) {
    const entry = data.journal.get(uid)?.find((candidate) => "id" in candidate && candidate.id === entryId);
    if (!entry) return undefined;
    const { id: _id, ...fields } = entry as CoachingJournalEntry & { id: string };
    return { ...fields };
  },
});
