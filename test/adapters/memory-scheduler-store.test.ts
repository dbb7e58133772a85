import {
  createInMemoryDatabase,
  createInMemorySchedulerStore,
  type InMemoryDatabase,
} from "@/adapters/memory/scheduler-store";
import { describeSchedulerStoreContract } from "./scheduler-store.contract";

let database: InMemoryDatabase = createInMemoryDatabase();

describeSchedulerStoreContract("in-memory", {
  async create() {
    database = createInMemoryDatabase();
    return createInMemorySchedulerStore(database);
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
});
