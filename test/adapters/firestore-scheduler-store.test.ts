import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { createFirestoreSchedulerStore } from "@/adapters/firestore/scheduler-store";
import { dueRank } from "@/core/due-rank";
import { runScheduler } from "@/pipeline/run-scheduler";
import type { SchedulerStore } from "@/pipeline/scheduler-store-ports";
import { type EmulatorHandle, startTestEmulator } from "../support/firestore";
import { queriesMissingIndexes, readIndexes } from "../support/index-coverage";
import { userDocument } from "../support/users";
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
  async putSlot(slotId, slot) {
    await db.collection("coachingSlots").doc(slotId).set(slot);
  },
});

describe("a tick on Firestore", () => {
  const HOUR = 3_600_000;
  /** 09:00 in London: inside the morning window there, 18:00 in Tokyo, outside it. */
  const NOW = Date.parse("2026-11-24T09:00:00Z");
  const settings = {
    pageSize: 100,
    maxUsersPerTick: 1_000,
    bootstrapLimit: 200,
    timeBudgetMs: 45_000,
    disabledRecheckMs: 24 * HOUR,
    dispatchConcurrency: 2,
    sweepMinPageSize: 2,
    sweepMaxPageSize: 2,
  };
  const tick = (store: SchedulerStore, now: number, dispatched: string[] = []) =>
    runScheduler({
      store,
      dispatcher: {
        async dispatch({ userId }) {
          dispatched.push(userId);
          return { ok: true, status: 202 };
        },
      },
      settings,
      now,
      trigger: "test",
      runId: `run-${now}`,
      elapsedMs: () => 0,
      random: () => 0.5,
    });

  it("sweeps users without a numeric due time by document id until all are scheduled", async () => {
    const { db: project } = handle.freshProject("sweep");
    const users = project.collection("users");
    await users.doc("a").set(userDocument({ nextCoachingMessageDue: NOW + 48 * HOUR }));
    await users.doc("b").set(userDocument());
    await users.doc("c").set({ ...userDocument(), nextCoachingMessageDue: new Date(NOW) });
    await users.doc("d").set(userDocument({ nextCoachingMessageDue: NOW + 48 * HOUR }));
    await users.doc("e").set({ ...userDocument({ enabled: false }), nextCoachingMessageDue: "soon" });
    const store = createFirestoreSchedulerStore(project);
    const runs = [];
    for (let index = 0; index < 3; index += 1) runs.push(await tick(store, NOW + index * HOUR));
    expect(runs.map((run) => run.results.usersSwept)).toEqual([2, 2, 1]);
    expect(runs.at(-1)?.results.sweepWrapped).toBe(true);
    for (const uid of ["b", "c", "e"]) {
      expect(typeof (await users.doc(uid).get()).get("nextCoachingMessageDue"), uid).toBe("number");
    }
    expect((await users.doc("e").get()).data()).toMatchObject({
      coachingParkedUntil: (await users.doc("e").get()).get("nextCoachingMessageDue"),
    });
    expect((await project.doc("systemState/unscheduledSweep").get()).get("cursor")).toBeNull();
    // Everyone has a due time now: the next tick only counts.
    const quiet = await tick(store, NOW + 3 * HOUR);
    expect(quiet.results).toMatchObject({ usersSwept: 0, documentsRead: 0, documentsWritten: 0 });
  });

  it("dispatches a due user outside the window whose slot is still open", async () => {
    const { db: project } = handle.freshProject("open-slot");
    const due = NOW - HOUR;
    const tokyo = {
      ...userDocument({ timezone: "Asia/Tokyo", nextCoachingMessageDue: due }),
      coachingDueRank: 0.5,
    };
    await project.doc("users/open").set(tokyo);
    await project.doc("users/closed").set(tokyo);
    await project.doc(`coachingSlots/open_${due}`).set({ slotId: `open_${due}`, status: "running" });
    await project.doc(`coachingSlots/closed_${due}`).set({ slotId: `closed_${due}`, status: "completed" });
    const dispatched: string[] = [];
    const run = await tick(createFirestoreSchedulerStore(project), NOW, dispatched);
    expect(dispatched).toEqual(["open"]);
    expect(run.results).toMatchObject({ jobsCreated: 1, rescheduledOutsideWindow: 1, documentsRead: 4 });
    expect((await project.doc("users/open").get()).get("nextCoachingMessageDue")).toBe(due);
    expect((await project.doc("users/closed").get()).get("nextCoachingMessageDue")).toBeGreaterThan(NOW);
  });
});

describe("a tick on Firestore over due times without a rank", () => {
  const HOUR = 3_600_000;
  const NOW = Date.parse("2026-11-24T09:00:00Z");

  it("finds due users the journaling app scheduled (no rank), ranks them and dispatches them", async () => {
    const { db: project } = handle.freshProject("unranked");
    const london = { timezone: "Europe/London", timePreference: "morning" } as const;
    await project.doc("users/app-1").set(userDocument({ ...london, nextCoachingMessageDue: NOW - HOUR }));
    await project.doc("users/app-2").set(userDocument({ ...london, nextCoachingMessageDue: NOW - HOUR }));
    await project
      .doc("users/engine")
      .set({ ...userDocument({ ...london, nextCoachingMessageDue: NOW - HOUR }), coachingDueRank: 0.25 });
    const dispatched: string[] = [];
    const run = await runScheduler({
      store: createFirestoreSchedulerStore(project),
      dispatcher: {
        async dispatch({ userId }) {
          dispatched.push(userId);
          return { ok: true, status: 202 };
        },
      },
      settings: {
        pageSize: 100,
        maxUsersPerTick: 1_000,
        bootstrapLimit: 200,
        timeBudgetMs: 45_000,
        disabledRecheckMs: 24 * HOUR,
        dispatchConcurrency: 1,
      },
      now: NOW,
      trigger: "test",
      runId: "unranked-run",
      elapsedMs: () => 0,
    });
    expect(dispatched.sort()).toEqual(["app-1", "app-2", "engine"]);
    expect(run.results).toMatchObject({ usersDue: 3, jobsCreated: 3, usersRanked: 2 });
    expect(typeof (await project.doc("users/app-1").get()).get("coachingDueRank")).toBe("number");
  });

  it("gets the rank of each due time the processor writes, so the ranked walk sees the user", async () => {
    const { db: project } = handle.freshProject("processor-rank");
    await project.doc("users/served").set(userDocument({ nextCoachingMessageDue: NOW - HOUR }));
    await createFirestoreProcessorStore(project).setNextDue({
      uid: "served",
      nextCoachingMessageDue: NOW - 1,
    });
    expect((await project.doc("users/served").get()).data()).toMatchObject({
      nextCoachingMessageDue: NOW - 1,
      coachingDueRank: dueRank({ uid: "served", dueAt: NOW - 1 }),
    });
    const due = await createFirestoreSchedulerStore(project).getDueUsers({ now: NOW, limit: 10 });
    expect(due.map((snapshot) => snapshot.uid)).toEqual(["served"]);
  });
});

describe("scheduler documents that do not parse", () => {
  const HOUR = 3_600_000;
  const NOW = Date.parse("2026-11-24T09:00:00Z");
  const CHAIN_ID = "cron_2026-11-24T09";
  const settings = {
    pageSize: 100,
    maxUsersPerTick: 1_000,
    bootstrapLimit: 200,
    timeBudgetMs: 45_000,
    disabledRecheckMs: 24 * HOUR,
    dispatchConcurrency: 1,
  };
  const tick = (store: SchedulerStore, dispatched: string[], asChainStep = false) =>
    runScheduler({
      store,
      dispatcher: {
        async dispatch({ userId }) {
          dispatched.push(userId);
          return { ok: true, status: 202 };
        },
      },
      settings,
      now: NOW,
      trigger: asChainStep ? "cron" : "test",
      runId: "malformed-run",
      elapsedMs: () => 0,
      random: () => 0.5,
      ...(asChainStep
        ? {
            chain: {
              chainId: CHAIN_ID,
              step: 0,
              after: null,
              maxSteps: 5,
              stepLeaseMs: 10 * 60_000,
              continuer: { continueChain: async () => ({ ok: true as const, status: 202 }) },
            },
          }
        : {}),
    });

  it("refuses to read a chain step claim that does not parse, so the step is not run a second time", async () => {
    const { db: project } = handle.freshProject("malformed-chain-step");
    // A claim whose lease field is unreadable: read as a dead claim, attempt 2 would take the step over.
    await project.doc(`schedulerChainSteps/${CHAIN_ID}_0_1`).set({ runId: 42, status: "running" });
    await project
      .doc("users/due")
      .set({ ...userDocument({ nextCoachingMessageDue: NOW - HOUR }), coachingDueRank: 0.5 });
    const store = createFirestoreSchedulerStore(project);
    await expect(store.getChainStep({ chainId: CHAIN_ID, step: 0, attempt: 1 })).rejects.toMatchObject({
      code: "internal:firestore",
    });
    const dispatched: string[] = [];
    await expect(tick(store, dispatched, true)).rejects.toMatchObject({
      code: "internal:firestore",
    });
    expect(dispatched).toEqual([]);
    expect((await project.doc(`schedulerChainSteps/${CHAIN_ID}_0_2`).get()).exists).toBe(false);
  });

  it("reads a sweep state that does not parse as none: the tick starts a new pass and overwrites it", async () => {
    const { db: project } = handle.freshProject("malformed-sweep");
    await project.doc("systemState/unscheduledSweep").set({ cursor: 7, passStartedAt: "yesterday" });
    await project.doc("users/unscheduled").set(userDocument());
    const store = createFirestoreSchedulerStore(project);
    expect(await store.getSweepState()).toBeNull();
    const run = await tick(store, []);
    expect(run.results.usersSwept).toBe(1);
    expect(typeof (await project.doc("users/unscheduled").get()).get("nextCoachingMessageDue")).toBe(
      "number",
    );
    expect(await store.getSweepState()).toMatchObject({ cursor: null, passStartedAt: NOW, updatedAt: NOW });
  });

  it("reads a due slot whose fields do not parse as open with no next due time recorded", async () => {
    const { db: project } = handle.freshProject("malformed-slot");
    await project.doc("coachingSlots/odd_100").set({ status: 5, nextCoachingMessageDue: "tomorrow" });
    await project
      .doc("coachingSlots/done_200")
      .set({ status: "completed", nextCoachingMessageDue: "tomorrow" });
    const slots = await createFirestoreSchedulerStore(project).getDueSlots(["odd_100", "done_200"]);
    expect(slots).toEqual(
      new Map([
        // Anything but "completed" is a run in progress, as the processor reads a slot: the user is dispatched and the processor decides.
        ["odd_100", { open: true, nextCoachingMessageDue: null }],
        ["done_200", { open: false, nextCoachingMessageDue: null }],
      ]),
    );
  });
});

it("issues only queries that firestore.indexes.json can serve", () => {
  const queries = handle.emulator.recordedQueries();
  expect(queries.length).toBeGreaterThan(0);
  expect(queriesMissingIndexes(queries, readIndexes())).toEqual([]);
});
