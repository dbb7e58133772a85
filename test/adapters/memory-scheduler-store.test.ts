import {
  createInMemoryDatabase,
  createInMemorySchedulerStore,
  type InMemoryDatabase,
} from "@/adapters/memory/scheduler-store";
import type { SlotRecord } from "@/core/due-slot";
import { describeSchedulerStoreContract } from "./scheduler-store.contract";

let database: InMemoryDatabase = createInMemoryDatabase();
let slots = new Map<string, SlotRecord>();

describeSchedulerStoreContract("in-memory", {
  async create() {
    database = createInMemoryDatabase();
    slots = new Map();
    return createInMemorySchedulerStore(database, { slots });
  },
  async putUser(uid, document) {
    database.users.set(uid, structuredClone(document));
  },
  async readUser(uid) {
    return database.users.get(uid);
  },
  async readRun(runId) {
    const run = database.schedulerRuns.get(runId);
    return run ? { ...run } : undefined;
  },
  async putSlot(slotId, slot) {
    slots.set(slotId, structuredClone(slot) as unknown as SlotRecord);
  },
});
