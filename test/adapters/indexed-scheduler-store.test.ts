import { describe, expect, it } from "vitest";
import { createInMemoryDatabase, createInMemorySchedulerStore } from "@/adapters/memory/scheduler-store";
import type { SchedulerRunRecord } from "@/pipeline/scheduler-run-record";
import type { DueCursor } from "@/pipeline/scheduler-store-ports";
import { IndexedSchedulerStore } from "../../scripts/simulation/capacity/indexed-scheduler-store";
import { seededRandom } from "../../scripts/simulation/capacity/population";
import { userDocument } from "../support/users";
import { describeSchedulerStoreContract } from "./scheduler-store.contract";

let store = new IndexedSchedulerStore();

describeSchedulerStoreContract("indexed in-memory (capacity simulator)", {
  async create() {
    store = new IndexedSchedulerStore();
    return store;
  },
  async putUser(uid, document) {
    store.putUser(uid, structuredClone(document));
  },
  async readUser(uid) {
    const document = store.readUser(uid);
    return document ? structuredClone(document) : undefined;
  },
  async readRun(runId) {
    const run: SchedulerRunRecord | undefined = store.runs.get(runId);
    return run ? { ...run } : undefined;
  },
  async putSlot(slotId, slot) {
    store.putSlot(slotId, String(slot.status), slot.nextCoachingMessageDue);
  },
});

describe("indexed in-memory scheduler store against the reference in-memory store", () => {
  it("answers due pages and counts as the reference does, over random writes with many equal due times", async () => {
    const random = seededRandom(17);
    const pick = <Value>(values: readonly Value[]) => values[Math.floor(random() * values.length)] as Value;
    // Few distinct due times, some in one minute and some across minute boundaries: many ties.
    const dueTimes = [0, 1, 59_999, 60_000, 60_001, 120_000, 3_600_000, 7_200_000];
    const indexed = new IndexedSchedulerStore();
    const database = createInMemoryDatabase();
    const reference = createInMemorySchedulerStore(database);
    for (let user = 0; user < 300; user += 1) {
      const document = userDocument({ nextCoachingMessageDue: pick(dueTimes) });
      indexed.putUser(`user-${user}`, structuredClone(document));
      database.users.set(`user-${user}`, structuredClone(document));
    }
    // Unranked documents go through setNextDue first, which gives them ranks in both stores.
    const everyone = Array.from({ length: 300 }, (_, user) => ({
      uid: `user-${user}`,
      nextCoachingMessageDue: pick(dueTimes),
    }));
    await indexed.setNextDue(everyone);
    await reference.setNextDue(everyone);

    let pagesRead = 0;
    for (let round = 0; round < 40; round += 1) {
      const updates = Array.from({ length: 25 }, () => ({
        uid: `user-${Math.floor(random() * 300)}`,
        nextCoachingMessageDue: pick(dueTimes),
        missedWindows: random() < 0.2 ? 1 + Math.floor(random() * 3) : 0,
      }));
      await indexed.setNextDue(updates);
      await reference.setNextDue(updates);

      const now = pick(dueTimes);
      expect(await indexed.countDueUsers({ now })).toEqual(await reference.countDueUsers({ now }));
      const limit = 1 + Math.floor(random() * 40);
      let after: DueCursor | undefined;
      let pages = 0;
      for (;;) {
        const [mine, theirs] = [
          await indexed.getDueUsers({ now, after, limit }),
          await reference.getDueUsers({ now, after, limit }),
        ];
        expect(mine.map((snapshot) => snapshot.uid)).toEqual(theirs.map((snapshot) => snapshot.uid));
        const last = theirs.at(-1);
        if (theirs.length < limit || last?.dueRank === undefined) break;
        after = { due: last.nextCoachingMessageDue as number, rank: last.dueRank };
        pages += 1;
      }
      pagesRead += pages;
    }
    // The walk went past the first page (the cursor was exercised).
    expect(pagesRead).toBeGreaterThan(40);
  });
});
