import { describe, expect, it } from "vitest";
import { createInMemoryDatabase, createInMemorySchedulerStore } from "@/adapters/memory/scheduler-store";
import { CLOSED_BREAKER } from "@/core/circuit-breaker";
import type { SlotRecord } from "@/core/due-slot";
import { isInsideWindow } from "@/core/schedule";
import type { Dispatcher, DispatchOutcome } from "@/pipeline/dispatch-ports";
import { runScheduler, type SchedulerSettings } from "@/pipeline/run-scheduler";
import type { SchedulerStore } from "@/pipeline/scheduler-store-ports";
import { type UserDocumentOptions, userDocument } from "../support/users";

const HOUR = 3_600_000;
/** 09:00 in London (GMT in November): inside the morning window there, outside it in Tokyo (18:00). */
const NOW = Date.parse("2026-11-24T09:00:00Z");

const SETTINGS: SchedulerSettings = {
  pageSize: 100,
  maxUsersPerTick: 1_000,
  bootstrapLimit: 200,
  timeBudgetMs: 45_000,
  disabledRecheckMs: 24 * HOUR,
  dispatchConcurrency: 4,
};

function recordingDispatcher(
  outcome: (userId: string) => DispatchOutcome = () => ({ ok: true, status: 202 }),
) {
  const calls: string[] = [];
  const dispatcher: Dispatcher = {
    async dispatch({ userId }) {
      calls.push(userId);
      return outcome(userId);
    },
  };
  return { dispatcher, calls };
}

/** A user as the journaling app writes it, or, with `rank`, as the engine leaves it after writing a due time. */
type TestUser = UserDocumentOptions & { rank?: number };

function setup(
  users: Record<string, TestUser>,
  slots: Map<
    string,
    Pick<SlotRecord, "status"> & Partial<Pick<SlotRecord, "nextCoachingMessageDue">>
  > = new Map(),
) {
  const database = createInMemoryDatabase();
  for (const [uid, { rank, ...options }] of Object.entries(users)) {
    const document = userDocument(options);
    database.users.set(uid, rank === undefined ? document : { ...document, coachingDueRank: rank });
  }
  return { database, store: createInMemorySchedulerStore(database, { slots }) };
}

const dueLondonMorning = {
  timezone: "Europe/London",
  timePreference: "morning",
  nextCoachingMessageDue: NOW - HOUR,
} as const;

async function tick(
  store: ReturnType<typeof setup>["store"],
  dispatcher: Dispatcher,
  overrides: Partial<SchedulerSettings> & { elapsedMs?: () => number; limit?: number; now?: number } = {},
) {
  const { elapsedMs = () => 0, limit, now = NOW, ...settings } = overrides;
  return runScheduler({
    store,
    dispatcher,
    settings: { ...SETTINGS, ...settings },
    now,
    trigger: "test",
    runId: "run-1",
    elapsedMs,
    random: () => 0.5,
    limit,
  });
}

describe("runScheduler", () => {
  it("dispatches due users inside their window, once each", async () => {
    const { store } = setup({
      a: dueLondonMorning,
      b: dueLondonMorning,
      later: { ...dueLondonMorning, nextCoachingMessageDue: NOW + HOUR },
    });
    const { dispatcher, calls } = recordingDispatcher();
    const run = await tick(store, dispatcher);
    expect(calls.sort()).toEqual(["a", "b"]);
    expect(run.results).toMatchObject({ usersDue: 2, jobsCreated: 2, errors: 0, usersBootstrapped: 0 });
  });

  it("moves a due user outside the window to the next target hour without dispatching", async () => {
    const { store, database } = setup({ tokyo: { ...dueLondonMorning, timezone: "Asia/Tokyo" } });
    const { dispatcher, calls } = recordingDispatcher();
    const run = await tick(store, dispatcher);
    expect(calls).toEqual([]);
    expect(run.results.rescheduledOutsideWindow).toBe(1);
    // 08:00 in Tokyo the next morning is 23:00 UTC today.
    expect(database.users.get("tokyo")?.nextCoachingMessageDue).toBe(Date.parse("2026-11-24T23:00:00Z"));
  });

  it("parks disabled users until the next re-check and never dispatches them", async () => {
    const { store, database } = setup({
      off: { ...dueLondonMorning, enabled: false },
      offUnscheduled: { enabled: false, nextCoachingMessageDue: null },
    });
    const { dispatcher, calls } = recordingDispatcher();
    const run = await tick(store, dispatcher);
    expect(calls).toEqual([]);
    expect(run.results).toMatchObject({ skippedDisabled: 2, usersBootstrapped: 0, errors: 0 });
    expect(database.users.get("off")?.nextCoachingMessageDue).toBe(NOW + 24 * HOUR);
    expect(database.users.get("offUnscheduled")?.nextCoachingMessageDue).toBe(NOW + 24 * HOUR);
  });

  it("bootstraps unscheduled enabled users within their frequency's range", async () => {
    const { store, database } = setup({
      daily: { frequency: "daily", nextCoachingMessageDue: null },
      weekly: { frequency: "onceAWeek", nextCoachingMessageDue: null },
    });
    const { dispatcher, calls } = recordingDispatcher();
    const run = await tick(store, dispatcher);
    expect(calls).toEqual([]);
    expect(run.results.usersBootstrapped).toBe(2);
    expect(database.users.get("daily")?.nextCoachingMessageDue).toBe(NOW + 4 * HOUR); // 1 h + 0.5 × 6 h
    expect(database.users.get("weekly")?.nextCoachingMessageDue).toBe(NOW + 13 * HOUR); // 1 h + 0.5 × 24 h
  });

  it("walks groups of equal due times across page boundaries without skipping or repeating anyone", async () => {
    const users: Record<string, UserDocumentOptions> = {};
    for (let index = 0; index < 23; index++) {
      // Seven users share each due time, so every page of 5 ends inside a group.
      users[`u${index}`] = {
        ...dueLondonMorning,
        nextCoachingMessageDue: NOW - HOUR + Math.floor(index / 7),
      };
    }
    const { store } = setup(users);
    const { dispatcher, calls } = recordingDispatcher();
    const run = await tick(store, dispatcher, { pageSize: 5 });
    expect(calls).toHaveLength(23);
    expect(new Set(calls).size).toBe(23);
    expect(run.results.usersDue).toBe(23);
  });

  it("stops at the per-tick cap, leaving the rest due for the next tick", async () => {
    const users = Object.fromEntries(
      Array.from({ length: 10 }, (_, index) => [
        `u${index}`,
        { ...dueLondonMorning, nextCoachingMessageDue: NOW - 10 + index },
      ]),
    );
    const { store } = setup(users);
    const { dispatcher, calls } = recordingDispatcher();
    const first = await tick(store, dispatcher, { maxUsersPerTick: 4, pageSize: 3 });
    expect(calls).toEqual(["u0", "u1", "u2", "u3"]);
    expect(first.results).toMatchObject({ usersDue: 4, jobsCreated: 4, hasMore: true });
  });

  it("stops dispatching when the time budget runs out and counts the rest as deferred", async () => {
    const users = Object.fromEntries(
      Array.from({ length: 6 }, (_, index) => [`u${index}`, dueLondonMorning]),
    );
    const { store } = setup(users);
    const { dispatcher, calls } = recordingDispatcher();
    let elapsed = 0;
    const run = await tick(
      store,
      {
        async dispatch(job) {
          elapsed += 20_000;
          return dispatcher.dispatch(job);
        },
      },
      { elapsedMs: () => elapsed, dispatchConcurrency: 1 },
    );
    expect(calls).toHaveLength(3);
    expect(run.results).toMatchObject({ jobsCreated: 3, deferred: 3, hasMore: true });
  });

  it("counts a failed dispatch as an error and leaves the user due", async () => {
    const { store, database } = setup({ ok: dueLondonMorning, broken: dueLondonMorning });
    const { dispatcher } = recordingDispatcher((userId) =>
      userId === "broken"
        ? { ok: false, retriable: true, reason: "processor answered HTTP 503" }
        : { ok: true, status: 202 },
    );
    const run = await tick(store, dispatcher);
    expect(run.results).toMatchObject({ jobsCreated: 1, errors: 1 });
    expect(run.userResults.broken).toEqual({
      result: "dispatch_failed",
      detail: "processor answered HTTP 503",
    });
    expect(database.users.get("broken")?.nextCoachingMessageDue).toBe(NOW - HOUR);
  });

  it("reports a malformed user as an error and parks it instead of failing the run", async () => {
    const { store, database } = setup({
      ok: dueLondonMorning,
      bad: { ...dueLondonMorning, timezone: "Nowhere/Special" },
    });
    const { dispatcher, calls } = recordingDispatcher();
    const run = await tick(store, dispatcher);
    expect(calls).toEqual(["ok"]);
    expect(run.results.errors).toBe(1);
    expect(run.userResults.bad?.result).toBe("invalid_document");
    expect(database.users.get("bad")?.nextCoachingMessageDue).toBe(NOW + 24 * HOUR);
  });

  it("stores the run summary as completed with its counts", async () => {
    const { store, database } = setup({ a: dueLondonMorning });
    const { dispatcher } = recordingDispatcher();
    await tick(store, dispatcher);
    expect(database.schedulerRuns.get("run-1")).toMatchObject({
      status: "completed",
      trigger: "test",
      startedAt: NOW,
      results: { usersDue: 1, jobsCreated: 1 },
      userResults: { a: { result: "dispatched" } },
    });
  });

  it("leaves every user it touched with a future due time or dispatched", async () => {
    const zones = ["Europe/London", "Asia/Tokyo", "America/New_York", "Asia/Kathmandu", "Australia/Sydney"];
    const preferences = ["morning", "afternoon", "evening"] as const;
    const users: Record<string, UserDocumentOptions> = {};
    zones.forEach((timezone, zoneIndex) => {
      preferences.forEach((timePreference, preferenceIndex) => {
        users[`${zoneIndex}-${preferenceIndex}`] = {
          timezone,
          timePreference,
          nextCoachingMessageDue: NOW - zoneIndex * HOUR,
        };
      });
    });
    const { store, database } = setup(users);
    const { dispatcher, calls } = recordingDispatcher();
    await tick(store, dispatcher);
    for (const [uid, document] of database.users) {
      const due = document.nextCoachingMessageDue as number;
      const config = document.coachingConfig as { timePreference: "morning" | "afternoon" | "evening" };
      const dispatched = calls.includes(uid);
      expect(dispatched || due > NOW).toBe(true);
      expect(dispatched).toBe(
        isInsideWindow({
          at: NOW,
          timezone: document.timezone as string,
          timePreference: config.timePreference,
        }),
      );
    }
  });

  it("parks disabled users with a mark equal to the park time, so a re-enable can tell a park from a schedule", async () => {
    const { store, database } = setup({
      off: { ...dueLondonMorning, enabled: false },
      on: { ...dueLondonMorning, timezone: "Asia/Tokyo" },
    });
    await tick(store, recordingDispatcher().dispatcher);
    expect(database.users.get("off")).toMatchObject({
      nextCoachingMessageDue: NOW + 24 * HOUR,
      coachingParkedUntil: NOW + 24 * HOUR,
    });
    expect(database.users.get("on")).not.toHaveProperty("coachingParkedUntil");
  });

  it("mirrors each user's enable flag in the schedule write it makes: park, bootstrap, window, suspension", async () => {
    const { store, database } = setup({
      off: { ...dueLondonMorning, enabled: false },
      offUnscheduled: { enabled: false, nextCoachingMessageDue: null },
      bootstrapped: { nextCoachingMessageDue: null },
      tokyo: { ...dueLondonMorning, timezone: "Asia/Tokyo" },
      suspended: dueLondonMorning,
      dispatched: dueLondonMorning,
    });
    Object.assign(database.users.get("suspended") ?? {}, { suspendUntil: NOW + 5 * HOUR });
    const { dispatcher, calls } = recordingDispatcher();
    await tick(store, dispatcher);
    expect(calls).toEqual(["dispatched"]);
    const mirror = (uid: string) => database.users.get(uid)?.coachingEnabled;
    expect(["off", "offUnscheduled", "bootstrapped", "tokyo", "suspended"].map(mirror)).toEqual([
      false,
      false,
      true,
      true,
      true,
    ]);
    // No write for a dispatched user: the processor's reschedule carries the mirror.
    expect(mirror("dispatched")).toBeUndefined();
  });

  it("picks up a user who turned coaching back on without the event at the re-check, within 24 h", async () => {
    const { store, database } = setup({ returning: { ...dueLondonMorning, enabled: false } });
    await tick(store, recordingDispatcher().dispatcher);
    const document = database.users.get("returning") as {
      coachingConfig: { enableCoachingMessages: boolean };
    };
    document.coachingConfig.enableCoachingMessages = true;
    const { dispatcher, calls } = recordingDispatcher();
    await tick(store, dispatcher, { now: NOW + 24 * HOUR });
    expect(calls).toEqual(["returning"]);
  });

  describe("the sweep for users without a numeric due time", () => {
    const page = { sweepMinPageSize: 3, sweepMaxPageSize: 3 };
    function unscheduledPopulation() {
      const { store, database } = setup({});
      const scheduled = userDocument({ nextCoachingMessageDue: NOW + 48 * HOUR });
      for (let index = 0; index < 10; index += 1) database.users.set(`u${index}`, structuredClone(scheduled));
      database.users.set("u1", userDocument({ frequency: "daily" })); // field missing
      database.users.set("u4", { ...userDocument(), nextCoachingMessageDue: new Date(NOW) }); // a Timestamp
      database.users.set("u6", { ...userDocument(), nextCoachingMessageDue: "2026-11-25" });
      database.users.set("u8", userDocument({ enabled: false })); // disabled, field missing
      database.users.set("u9", { ...userDocument(), nextCoachingMessageDue: Number.NaN });
      return { store, database };
    }

    it("schedules every such user within ceil(users / page) ticks, parking the disabled", async () => {
      const { store, database } = unscheduledPopulation();
      const runs = [];
      for (let index = 0; index < Math.ceil(10 / 3); index += 1) {
        runs.push(await tick(store, recordingDispatcher().dispatcher, { ...page, now: NOW + index * HOUR }));
      }
      for (const uid of ["u1", "u4", "u6", "u9"]) {
        const due = database.users.get(uid)?.nextCoachingMessageDue as number;
        expect(Number.isFinite(due), uid).toBe(true);
        expect(due).toBeGreaterThan(NOW);
        expect(due).toBeLessThanOrEqual(NOW + 4 * HOUR + 7 * HOUR);
      }
      expect(database.users.get("u8")).toMatchObject({ coachingParkedUntil: expect.any(Number) });
      expect(database.users.get("u8")?.nextCoachingMessageDue).toBeGreaterThan(NOW);
      expect(runs.map((run) => run.results.usersSwept)).toEqual([3, 3, 3, 1]);
      expect(runs.reduce((sum, run) => sum + run.results.usersBootstrapped, 0)).toBe(4);
      // Three users scanned, u1 read whole to fix it, and the sweep's state.
      expect(runs[0]?.results.documentsRead).toBe(3 + 1 + 1);
    });

    it("wraps around to the first id and finds a user added behind the cursor", async () => {
      const { store, database } = unscheduledPopulation();
      for (let index = 0; index < 4; index += 1) {
        await tick(store, recordingDispatcher().dispatcher, { ...page, now: NOW + index * HOUR });
      }
      expect(database.unscheduledSweep?.cursor).toBeNull();
      database.users.set("a-new", userDocument());
      const run = await tick(store, recordingDispatcher().dispatcher, { ...page, now: NOW + 4 * HOUR });
      expect(run.results).toMatchObject({ usersSwept: 3, usersBootstrapped: 1 });
      expect(typeof database.users.get("a-new")?.nextCoachingMessageDue).toBe("number");
      expect(database.unscheduledSweep?.cursor).toBe("u1");
    });

    it("sizes its page from the user count so that a pass takes at most sweepTicksPerPass ticks", async () => {
      const { store } = unscheduledPopulation();
      const run = await tick(store, recordingDispatcher().dispatcher, {
        sweepTicksPerPass: 4,
        sweepMinPageSize: 1,
        sweepMaxPageSize: 1_000,
      });
      expect(run.results.usersSwept).toBe(3); // ceil(10 users / 4 ticks)
    });

    it("reads nothing but counts when every user has a numeric due time and a rank", async () => {
      const { store, database } = setup({
        a: { ...dueLondonMorning, rank: 0.5 },
        b: { nextCoachingMessageDue: NOW + HOUR, rank: 0.5 },
      });
      const run = await tick(store, recordingDispatcher().dispatcher, page);
      // Two counts for the sweep, two for due users without a rank; one due user read.
      expect(run.results).toMatchObject({ usersSwept: 0, documentsRead: 1, aggregationReads: 4 });
      expect(database.unscheduledSweep).toBeNull();
    });
  });

  describe("a breaker open past its cool-down (a probe due)", () => {
    const probeDue = {
      ...CLOSED_BREAKER,
      state: "open" as const,
      consecutiveFailures: 20,
      openedAt: NOW - 2 * HOUR,
      openUntil: NOW - HOUR,
    };
    function population() {
      return setup(
        Object.fromEntries(
          Array.from({ length: 9 }, (_, index) => [
            `u${index}`,
            { ...dueLondonMorning, rank: (index + 1) / 10 },
          ]),
        ),
      );
    }

    it("dispatches one page, which takes the probe, and defers the rest while the breaker stays open", async () => {
      const { store, database } = population();
      database.llmBreaker = probeDue;
      const { dispatcher, calls } = recordingDispatcher();
      const run = await tick(store, dispatcher, { pageSize: 3 });
      expect(calls).toEqual(["u0", "u1", "u2"]);
      expect(run.results).toMatchObject({ jobsCreated: 3, deferredByBreaker: 6 });
      expect(database.users.get("u5")?.nextCoachingMessageDue).toBe(NOW + 2 * HOUR);
    });

    it("dispatches everyone once the probe closed the breaker", async () => {
      const { store, database } = population();
      database.llmBreaker = probeDue;
      const { dispatcher, calls } = recordingDispatcher(() => {
        database.llmBreaker = CLOSED_BREAKER; // the probe succeeded
        return { ok: true, status: 202 };
      });
      const run = await tick(store, dispatcher, { pageSize: 3 });
      expect(calls).toHaveLength(9);
      expect(run.results.deferredByBreaker).toBe(0);
    });
  });

  describe("due users without a rank", () => {
    function rankedPopulation(users: number) {
      return setup(
        Object.fromEntries(
          Array.from({ length: users }, (_, index) => [
            `u${index}`,
            { ...dueLondonMorning, rank: (index + 1) / (users + 1) },
          ]),
        ),
      );
    }
    /** Two count aggregations racing concurrent writes: the ranked count comes out short. */
    function racingCounts(store: SchedulerStore, races: number) {
      let calls = 0;
      const scanned = { users: 0 };
      const racing: SchedulerStore = {
        ...store,
        async countDueUsers(query) {
          const counts = await store.countDueUsers(query);
          calls += 1;
          return calls <= races ? { ...counts, ranked: counts.ranked - 3 } : counts;
        },
        async scanUnrankedDueUsers(query) {
          const page = await store.scanUnrankedDueUsers(query);
          scanned.users += page.scanned;
          return page;
        },
      };
      return { racing, scanned };
    }

    it("does not scan when the two counts differ only once (a race with concurrent writes)", async () => {
      const { store } = rankedPopulation(300);
      const { racing, scanned } = racingCounts(store, 1);
      await tick(racing, recordingDispatcher().dispatcher);
      expect(scanned.users).toBe(0);
    });

    it("scans a bounded number of due users per step when the difference persists", async () => {
      const { store } = rankedPopulation(300);
      const { racing, scanned } = racingCounts(store, 2);
      const run = await tick(racing, recordingDispatcher().dispatcher, { rankScanMaxUsers: 100 });
      expect(scanned.users).toBeLessThanOrEqual(100);
      expect(run.results.jobsCreated).toBe(300);
    });
  });

  describe("a due user with an open slot", () => {
    const tokyo = { ...dueLondonMorning, timezone: "Asia/Tokyo", rank: 0.5 } as const;
    const slotOf = (uid: string) => `${uid}_${NOW - HOUR}`;

    it("is dispatched outside the window so the processor finishes the slot; others are rescheduled", async () => {
      const slots = new Map<string, Pick<SlotRecord, "status">>([
        [slotOf("open"), { status: "running" }],
        [slotOf("done"), { status: "completed" }],
      ]);
      const { store, database } = setup({ open: tokyo, done: tokyo, none: tokyo }, slots);
      const { dispatcher, calls } = recordingDispatcher();
      const run = await tick(store, dispatcher);
      expect(calls).toEqual(["open"]);
      expect(database.users.get("open")?.nextCoachingMessageDue).toBe(NOW - HOUR);
      expect(database.users.get("done")?.nextCoachingMessageDue).toBeGreaterThan(NOW);
      expect(database.users.get("none")?.nextCoachingMessageDue).toBeGreaterThan(NOW);
      expect(run.results).toMatchObject({ jobsCreated: 1, rescheduledOutsideWindow: 2 });
      // Three users and the three slots looked up, no sweep.
      expect(run.results.documentsRead).toBe(6);
    });

    it("gets the next due time its completed slot recorded when the run died before rescheduling", async () => {
      const weekly = { ...tokyo, frequency: "onceAWeek" } as const;
      const inAWeek = NOW + 7 * 24 * HOUR - 5 * HOUR;
      const slots = new Map<string, Pick<SlotRecord, "status" | "nextCoachingMessageDue">>([
        [slotOf("sent"), { status: "completed", nextCoachingMessageDue: inAWeek }],
        [slotOf("stale"), { status: "completed", nextCoachingMessageDue: NOW - 2 * HOUR }],
      ]);
      const { store, database } = setup({ sent: weekly, stale: weekly }, slots);
      const { dispatcher, calls } = recordingDispatcher();
      const run = await tick(store, dispatcher);
      expect(calls).toEqual([]);
      expect(database.users.get("sent")?.nextCoachingMessageDue).toBe(inAWeek);
      // A recorded due time already past is no schedule: the next window as usual.
      const stale = database.users.get("stale")?.nextCoachingMessageDue as number;
      expect(stale).toBeGreaterThan(NOW);
      expect(stale).toBeLessThan(NOW + 24 * HOUR);
      expect(run.results.rescheduledOutsideWindow).toBe(2);
    });

    it("is dispatched while the breaker is open: delivering an approved message needs no LLM call", async () => {
      const slots = new Map<string, Pick<SlotRecord, "status">>([[slotOf("open"), { status: "running" }]]);
      const { store, database } = setup({ open: dueLondonMorning, other: dueLondonMorning }, slots);
      database.llmBreaker = {
        ...CLOSED_BREAKER,
        state: "open",
        consecutiveFailures: 5,
        openedAt: NOW - 60_000,
        openUntil: NOW + HOUR,
      };
      const { dispatcher, calls } = recordingDispatcher();
      const run = await tick(store, dispatcher);
      expect(run.results.breakerOpen).toBe(true);
      expect(calls).toEqual(["open"]);
      expect(run.results.deferredByBreaker).toBe(1);
    });
  });
});
