/** The Firestore event store (on the emulator) and its in-memory twin, held to one contract. */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COLLECTIONS } from "@/adapters/firestore/collections";
import { createFirestoreEventStore } from "@/adapters/firestore/event-store";
import { createInMemoryEventStore, createInMemoryOutboxData } from "@/adapters/memory/event-store";
import type { EventRecord } from "@/core/events";
import { type EmulatorHandle, startTestEmulator } from "../support/firestore";
import { queriesMissingIndexes, readIndexes } from "../support/index-coverage";
import { describeEventStoreContract } from "./event-store.contract";

let handle: EmulatorHandle;
let db: Firestore;

beforeAll(async () => {
  handle = await startTestEmulator();
});
afterAll(async () => {
  await handle.stop();
});

describeEventStoreContract("Firestore", {
  async create() {
    db = handle.freshProject("events").db;
    return createFirestoreEventStore(db);
  },
  async putEvent(id, document) {
    await db.collection(COLLECTIONS.events).doc(id).set(document);
  },
  async readEvent(eventId) {
    return (await db.collection(COLLECTIONS.events).doc(eventId).get()).data();
  },
  async deleteEvent(eventId) {
    await db.collection(COLLECTIONS.events).doc(eventId).delete();
  },
});

describe("Firestore event store queries", () => {
  it("are all served by firestore.indexes.json (the keyset paging and the sweep included)", () => {
    expect(queriesMissingIndexes(handle.emulator.recordedQueries(), readIndexes())).toEqual([]);
  });
});

let events = new Map<string, EventRecord>();

describeEventStoreContract("in-memory", {
  async create() {
    events = new Map();
    return createInMemoryEventStore(events, createInMemoryOutboxData());
  },
  async putEvent(id, document) {
    // As written, missing fields and all: the twin reads through the same parser as Firestore.
    events.set(id, structuredClone(document) as unknown as EventRecord);
  },
  async readEvent(eventId) {
    const event = events.get(eventId);
    return event ? { ...(event as unknown as Record<string, unknown>) } : undefined;
  },
  async deleteEvent(eventId) {
    events.delete(eventId);
  },
});
