import { describe, expect, it } from "vitest";
import { createInMemoryDatabase, createInMemorySchedulerStore } from "@/adapters/memory/scheduler-store";
import { isInsideWindow } from "@/core/schedule";
import type { Dispatcher, DispatchOutcome } from "@/pipeline/ports";
import { runScheduler, type SchedulerSettings } from "@/pipeline/run-scheduler";
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

function setup(users: Record<string, UserDocumentOptions>) {
  const database = createInMemoryDatabase();
  for (const [uid, options] of Object.entries(users)) database.users.set(uid, userDocument(options));
  return { database, store: createInMemorySchedulerStore(database) };
}

const dueLondonMorning = {
  timezone: "Europe/London",
  timePreference: "morning",
  nextCoachingMessageDue: NOW - HOUR,
} as const;

async function tick(
  store: ReturnType<typeof setup>["store"],
  dispatcher: Dispatcher,
  overrides: Partial<SchedulerSettings> & { elapsedMs?: () => number; limit?: number } = {},
) {
  const { elapsedMs = () => 0, limit, ...settings } = overrides;
  return runScheduler({
    store,
    dispatcher,
    settings: { ...SETTINGS, ...settings },
    now: NOW,
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
});
