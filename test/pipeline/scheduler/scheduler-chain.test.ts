/**
 * A cron tick as a chain of steps (issue 12): the real scheduler on the in-memory store, whose
 * ranked due query leaves out users without a rank as real Firestore does, with a continuer
 * that runs the next step in process the way the scheduler route does.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createHttpDispatcher } from "@/adapters/dispatch/http-dispatcher";
import { createInMemoryProcessorData, createInMemoryProcessorStore } from "@/adapters/memory/processor-store";
import {
  createInMemoryDatabase,
  createInMemorySchedulerStore,
  type InMemoryDatabase,
} from "@/adapters/memory/scheduler-store";
import { loadConfig, SCHEDULER_CHAIN_LAST_START_MINUTE, SCHEDULER_MAX_DURATION_SECONDS } from "@/config";
import { dueRank, LOWEST_RANK, MAX_MISSED_WINDOWS, missedWindowsOf } from "@/core/due-rank";
import { nextDueAfterSuccess } from "@/core/schedule";
import type {
  ChainContinuation,
  ChainContinuer,
  Dispatcher,
  DispatchOutcome,
} from "@/pipeline/dispatch-ports";
import {
  type ChainStepInput,
  chainLastStartAt,
  dispatchesPerMinuteFor,
  runScheduler,
  type SchedulerSettings,
  schedulerSettingsFromConfig,
} from "@/pipeline/run-scheduler";
import type { SchedulerRunRecord } from "@/pipeline/scheduler-run-record";
import type { SchedulerStore } from "@/pipeline/scheduler-store-ports";
import { userDocument } from "../../support/users";

const HOUR = 3_600_000;
const ZONE = "America/New_York";
/** 08:00 in New York (EST): the target hour of the morning window, where every daily morning user is due. */
const DAY_1 = Date.parse("2026-11-24T13:00:00Z");
const LEASE_MS = 120_000;

const SETTINGS: SchedulerSettings = {
  pageSize: 40,
  maxUsersPerTick: 150,
  bootstrapLimit: 200,
  timeBudgetMs: 45_000,
  disabledRecheckMs: 24 * HOUR,
  dispatchConcurrency: 8,
};

const newYorkMorning = { timezone: ZONE, timePreference: "morning", frequency: "daily" } as const;

function population(users: number, due: number): InMemoryDatabase {
  const database = createInMemoryDatabase();
  for (let index = 0; index < users; index += 1) {
    // As the journaling app writes them: no rank yet; the first step ranks them.
    database.users.set(
      `user-${String(index).padStart(5, "0")}`,
      userDocument({ ...newYorkMorning, nextCoachingMessageDue: due }),
    );
  }
  return database;
}

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

/**
 * Runs a cron tick's chain to its end: step 0, then every continuation the steps start, each
 * as its own run (as the route runs them after its 202). Returns the runs in order.
 */
async function runChain({
  store,
  dispatcher,
  now,
  settings = SETTINGS,
  maxSteps = 24,
  chainId = `cron_${new Date(now).toISOString().slice(0, 13)}`,
  stepClock = () => () => 0,
  continuerOutcome,
}: {
  store: SchedulerStore;
  dispatcher: Dispatcher;
  now: number;
  settings?: SchedulerSettings;
  maxSteps?: number;
  chainId?: string;
  /** Called at the start of each step: that step's clock (milliseconds since it started). */
  stepClock?: () => () => number;
  continuerOutcome?: DispatchOutcome;
}): Promise<{ runs: SchedulerRunRecord[]; continuations: ChainContinuation[] }> {
  const pending: ChainContinuation[] = [];
  const continuations: ChainContinuation[] = [];
  const continuer: ChainContinuer = {
    async continueChain(next) {
      continuations.push(next);
      if (continuerOutcome) return continuerOutcome;
      pending.push(next);
      return { ok: true, status: 202 };
    },
  };
  const step = (next: { step: number; after: ChainStepInput["after"] }) =>
    runScheduler({
      store,
      dispatcher,
      settings,
      now: now + next.step * 50_000,
      trigger: next.step === 0 ? "cron" : "continuation",
      // Unique per delivery, as in production: a duplicate delivery is another run.
      runId: `${chainId}-step-${next.step}-${now}`,
      elapsedMs: stepClock(),
      // Step clocks here are frozen or scripted: a pause (before a continuation is tried again) takes no time.
      waitUntil: async () => {},
      random: () => 0.5,
      chain: { chainId, ...next, maxSteps, stepLeaseMs: LEASE_MS, continuer },
    });
  const runs = [await step({ step: 0, after: null })];
  for (let next = pending.shift(); next; next = pending.shift()) runs.push(await step(next));
  return { runs, continuations };
}

/** What the processor does after a message: the next due time, written by the processor store (with its rank). */
async function processorReschedules(database: InMemoryDatabase, uids: readonly string[], now: number) {
  const processorStore = createInMemoryProcessorStore(database, createInMemoryProcessorData());
  for (const uid of uids) {
    await processorStore.setNextDue({
      uid,
      nextCoachingMessageDue: nextDueAfterSuccess({ now, ...newYorkMorning }),
    });
  }
}

describe("a cron tick's chain", () => {
  it("drains a large group of equal due times with a small cap, and no user id is last two days in a row", async () => {
    const users = 2_000;
    const database = population(users, DAY_1);
    const store = createInMemorySchedulerStore(database);
    const orders: string[][] = [];
    for (let day = 0; day < 3; day += 1) {
      const now = DAY_1 + day * 24 * HOUR;
      const { dispatcher, calls } = recordingDispatcher();
      const { runs } = await runChain({ store, dispatcher, now });
      // Every user once, within the tick's chain, although the processor has not yet moved
      // anyone's due time while the chain runs (it does so after generating, seconds later).
      expect(calls).toHaveLength(users);
      expect(new Set(calls).size).toBe(users);
      expect(runs).toHaveLength(Math.ceil(users / SETTINGS.maxUsersPerTick));
      expect(runs.at(-1)?.chain?.continuation.status).toBe("not_needed");
      expect(runs.slice(0, -1).every((run) => run.chain?.continuation.status === "dispatched")).toBe(true);
      // The first day ranks the app-written due times; afterwards the processor writes each rank.
      expect(runs[0]?.results.usersRanked).toBe(day === 0 ? users : 0);
      orders.push(calls);
      await processorReschedules(database, calls, now + 10 * 60_000);
    }
    for (let day = 1; day < orders.length; day += 1) {
      const [yesterday, today] = [orders[day - 1] ?? [], orders[day] ?? []];
      expect(today.at(-1)).not.toBe(yesterday.at(-1));
      // The users a single step would have left over are a fresh draw every day, not the same ids.
      const leftOverYesterday = new Set(yesterday.slice(SETTINGS.maxUsersPerTick));
      const leftOverAgain = today.slice(SETTINGS.maxUsersPerTick).filter((uid) => leftOverYesterday.has(uid));
      const share = leftOverAgain.length / (users - SETTINGS.maxUsersPerTick);
      expect(share).toBeGreaterThan(0.85);
      expect(share).toBeLessThan(0.99);
      const lastTenthYesterday = new Set(yesterday.slice(-users / 10));
      const lastTenthAgain = today.slice(-users / 10).filter((uid) => lastTenthYesterday.has(uid)).length;
      expect(lastTenthAgain).toBeLessThan(users / 10 / 4);
    }
  });

  it("puts users who missed their window first at the next one", async () => {
    const users = 500;
    const database = population(users, DAY_1);
    const store = createInMemorySchedulerStore(database);
    // A chain of 2 steps of 100 serves 200 users; the rest wait for the next ticks.
    const first = recordingDispatcher();
    const { runs } = await runChain({
      store,
      dispatcher: first.dispatcher,
      now: DAY_1,
      maxSteps: 2,
      settings: { ...SETTINGS, maxUsersPerTick: 100 },
    });
    expect(first.calls).toHaveLength(200);
    expect(runs.at(-1)?.chain?.continuation).toMatchObject({ status: "chain_limit", nextStep: null });
    await processorReschedules(database, first.calls, DAY_1 + 10 * 60_000);
    // 11:00 in New York: the window has closed; the 300 left over are moved to tomorrow's 08:00.
    const closing = recordingDispatcher();
    const closed = await runChain({ store, dispatcher: closing.dispatcher, now: DAY_1 + 3 * HOUR });
    expect(closing.calls).toEqual([]);
    expect(closed.runs.reduce((sum, run) => sum + run.results.rescheduledOutsideWindow, 0)).toBe(300);
    const missed = new Set([...database.users.keys()].filter((uid) => !first.calls.includes(uid)));
    // Tomorrow, the same short chain serves the 200 who missed first.
    const next = recordingDispatcher();
    await runChain({
      store,
      dispatcher: next.dispatcher,
      now: DAY_1 + 24 * HOUR,
      maxSteps: 2,
      settings: { ...SETTINGS, maxUsersPerTick: 100 },
    });
    expect(next.calls).toHaveLength(200);
    expect(next.calls.every((uid) => missed.has(uid))).toBe(true);
  });

  it("lets a duplicate cron delivery of the same hour do nothing, and records whose step it was", async () => {
    const database = population(300, DAY_1);
    const store = createInMemorySchedulerStore(database);
    const { dispatcher, calls } = recordingDispatcher();
    const { runs } = await runChain({ store, dispatcher, now: DAY_1 });
    expect(calls).toHaveLength(300);
    const duplicate = await runChain({ store, dispatcher, now: DAY_1 + 5_000 });
    expect(calls).toHaveLength(300);
    expect(duplicate.runs).toHaveLength(1);
    expect(duplicate.continuations).toEqual([]);
    expect(duplicate.runs[0]?.chain).toMatchObject({
      step: 0,
      duplicateOf: runs[0]?.runId,
      continuation: { status: "none" },
    });
    expect(duplicate.runs[0]?.results).toMatchObject({ usersDue: 0, jobsCreated: 0 });
    expect(database.schedulerRuns.get(duplicate.runs[0]?.runId ?? "")?.chain?.duplicateOf).toBe(
      runs[0]?.runId,
    );
  });

  it("lets a later delivery take over a step whose run died holding it, once its lease has run out", async () => {
    const database = population(50, DAY_1);
    const store = createInMemorySchedulerStore(database);
    const chainId = "cron_2026-11-24T13";
    await store.createChainStep({
      chainId,
      step: 0,
      attempt: 1,
      runId: "died",
      claimedAt: DAY_1 - LEASE_MS - 1,
      leaseUntil: DAY_1 - 1,
      status: "running",
    });
    const { dispatcher, calls } = recordingDispatcher();
    const { runs } = await runChain({ store, dispatcher, now: DAY_1, chainId });
    expect(calls).toHaveLength(50);
    expect(runs[0]?.chain).toMatchObject({ attempt: 2, duplicateOf: null });
    expect(database.schedulerChainSteps.get(`${chainId}_0_2`)?.status).toBe("completed");

    // A live claim (lease not run out) is a duplicate, not a takeover.
    await store.createChainStep({
      chainId: "cron_2026-11-24T14",
      step: 0,
      attempt: 1,
      runId: "alive",
      claimedAt: DAY_1 + HOUR,
      leaseUntil: DAY_1 + HOUR + LEASE_MS,
      status: "running",
    });
    const live = await runChain({
      store,
      dispatcher,
      now: DAY_1 + HOUR + 1_000,
      chainId: "cron_2026-11-24T14",
    });
    expect(live.runs[0]?.chain?.duplicateOf).toBe("alive");
  });

  it("takes its own step claim when the create() applied but came back as already existing", async () => {
    // The SDK retries a commit whose answer was lost: the retry of an applied create() reads ALREADY_EXISTS.
    const database = population(5, DAY_1);
    const base = createInMemorySchedulerStore(database);
    let conflicts = 0;
    const store: SchedulerStore = {
      ...base,
      async createChainStep(step) {
        await base.createChainStep(step);
        conflicts += 1;
        return "exists";
      },
    };
    const { dispatcher, calls } = recordingDispatcher();
    const { runs } = await runChain({ store, dispatcher, now: DAY_1 });
    expect(conflicts).toBe(1);
    expect(runs[0]?.chain).toMatchObject({ attempt: 1, duplicateOf: null });
    expect(calls).toHaveLength(5);
    expect(database.schedulerChainSteps.get(`cron_2026-11-24T13_0_1`)?.status).toBe("completed");
  });

  it("starts the next step as soon as the budget is reached, before the dispatches in flight settle", async () => {
    const database = population(20, DAY_1);
    const store = createInMemorySchedulerStore(database);
    let elapsed = 0;
    const events: string[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let first = true;
    const dispatcher: Dispatcher = {
      async dispatch({ userId }) {
        elapsed += 10_000;
        events.push(`dispatch ${userId}`);
        // The step's first call answers only once the continuation was sent; the others at once.
        if (first) {
          first = false;
          await held;
          events.push("first call answered");
        }
        return { ok: true, status: 202 };
      },
    };
    const continuer: ChainContinuer = {
      async continueChain() {
        events.push("continue");
        release();
        return { ok: true, status: 202 };
      },
    };
    const run = await runScheduler({
      store,
      dispatcher,
      settings: { ...SETTINGS, dispatchConcurrency: 5, pageSize: 20 },
      now: DAY_1,
      trigger: "cron",
      runId: "step-0",
      elapsedMs: () => elapsed,
      random: () => 0.5,
      chain: {
        chainId: "cron_2026-11-24T13",
        step: 0,
        after: null,
        maxSteps: 24,
        stepLeaseMs: LEASE_MS,
        continuer,
      },
    });
    expect(events.indexOf("continue")).toBeGreaterThan(-1);
    expect(events.indexOf("continue")).toBeLessThan(events.indexOf("first call answered"));
    expect(run.results).toMatchObject({ jobsCreated: 5, deferred: 15, hasMore: true });
    expect(run.chain?.continuation).toEqual({ status: "dispatched", nextStep: 1 });
    expect(run.chain?.handledUpTo).not.toBeNull();
  });

  it("aborts the dispatches still in flight at the step's deadline and counts them as unconfirmed", async () => {
    const database = population(6, DAY_1);
    const store = createInMemorySchedulerStore(database);
    const startedAt = performance.now();
    const aborted: string[] = [];
    const dispatcher: Dispatcher = {
      async dispatch({ userId, signal }) {
        if (userId.endsWith("0") || userId.endsWith("1")) return { ok: true, status: 202 };
        // A processor that never answers: only the deadline ends the call.
        return new Promise((resolve) => {
          signal?.addEventListener("abort", () => {
            aborted.push(userId);
            resolve({ ok: false, retriable: true, reason: "aborted" });
          });
        });
      },
    };
    const run = await runScheduler({
      store,
      dispatcher,
      settings: { ...SETTINGS, timeBudgetMs: 10_000, dispatchDeadlineMs: 150 },
      now: DAY_1,
      trigger: "test",
      runId: "deadline",
      elapsedMs: () => performance.now() - startedAt,
      random: () => 0.5,
    });
    expect(performance.now() - startedAt).toBeLessThan(5_000);
    expect(aborted).toHaveLength(4);
    expect(run.results).toMatchObject({ jobsCreated: 2, dispatchesUnconfirmed: 4, errors: 0 });
    expect(
      Object.values(run.userResults).filter((entry) => entry.result === "dispatch_unconfirmed"),
    ).toHaveLength(4);
  });

  it("sweeps for users without a due time in every step's reserved slice, even when each step runs out of time", async () => {
    const database = population(40, DAY_1);
    for (let index = 0; index < 3; index += 1)
      database.users.set(`missing-${index}`, userDocument({ frequency: "daily" }));
    const store = createInMemorySchedulerStore(database);
    let elapsed = 0;
    const dispatcher: Dispatcher = {
      async dispatch() {
        elapsed += 20_000; // every step runs out of its budget dispatching
        return { ok: true, status: 202 };
      },
    };
    const { runs } = await runChain({
      store,
      dispatcher,
      now: DAY_1,
      maxSteps: 3,
      settings: { ...SETTINGS, dispatchConcurrency: 1, sweepMinPageSize: 50 },
      stepClock: () => {
        elapsed = 0;
        return () => elapsed;
      },
    });
    expect(runs.at(-1)?.chain?.continuation.status).toBe("chain_limit");
    expect(runs[0]?.results.usersSwept).toBeGreaterThan(0);
    for (let index = 0; index < 3; index += 1) {
      expect(typeof database.users.get(`missing-${index}`)?.nextCoachingMessageDue).toBe("number");
    }
  });

  it("shares one tick's sweep page between the steps of its chain, each step going on from the last", async () => {
    const database = population(20, DAY_1);
    for (let index = 0; index < 2_480; index += 1) {
      database.users.set(
        `a-${String(index).padStart(5, "0")}`,
        userDocument({ nextCoachingMessageDue: DAY_1 + 48 * HOUR }),
      );
    }
    database.users.set("a-00500-missing", userDocument());
    database.users.set("a-01500-missing", userDocument());
    database.users.set("a-02400-missing", userDocument());
    const base = createInMemorySchedulerStore(database);
    let elapsed = 0;
    const store: SchedulerStore = {
      ...base,
      async sweepUsers(query) {
        elapsed += 5_000; // one query of 1,000 ids fills a step's 4 s slice
        return base.sweepUsers(query);
      },
    };
    const dispatcher: Dispatcher = {
      async dispatch() {
        elapsed += 20_000; // and the due users fill the rest of every step
        return { ok: true, status: 202 };
      },
    };
    const { runs } = await runChain({
      store,
      dispatcher,
      now: DAY_1,
      maxSteps: 4,
      settings: { ...SETTINGS, dispatchConcurrency: 1, sweepMinPageSize: 2_503, sweepMaxPageSize: 2_503 },
      stepClock: () => {
        elapsed = 0;
        return () => elapsed;
      },
    });
    expect(runs.map((run) => run.results.usersSwept)).toEqual([1_000, 1_000, 503, 0]);
    for (const uid of ["a-00500-missing", "a-01500-missing", "a-02400-missing"]) {
      expect(typeof database.users.get(uid)?.nextCoachingMessageDue, uid).toBe("number");
    }
    expect(database.unscheduledSweep?.chain).toMatchObject({ chainId: "cron_2026-11-24T13", scanned: 2_503 });
  });

  it("continues right after the last user handled when the time budget runs out mid-page", async () => {
    const database = population(30, DAY_1);
    const store = createInMemorySchedulerStore(database);
    let elapsed = 0;
    const calls: string[] = [];
    const dispatcher: Dispatcher = {
      async dispatch({ userId }) {
        calls.push(userId);
        elapsed += 10_000; // five calls fit in a 45 s step
        return { ok: true, status: 202 };
      },
    };
    const { runs } = await runChain({
      store,
      dispatcher,
      now: DAY_1,
      settings: { ...SETTINGS, dispatchConcurrency: 1, pageSize: 10 },
      stepClock: () => {
        elapsed = 0;
        return () => elapsed;
      },
    });
    expect(calls).toHaveLength(30);
    expect(new Set(calls).size).toBe(30);
    expect(runs[0]?.results).toMatchObject({ jobsCreated: 5, deferred: 5, hasMore: true });
    expect(runs.slice(0, 6).map((run) => run.results.jobsCreated)).toEqual([5, 5, 5, 5, 5, 5]);
    // The step after the last one that ran out of time finds nobody left.
    expect(runs).toHaveLength(7);
    expect(runs.at(-1)?.results.usersDue).toBe(0);
    expect(runs[1]?.chain?.startedAfter).toEqual(runs[0]?.chain?.handledUpTo);
  });

  it("records a continuation that could not be started, and leaves the rest due for the next tick", async () => {
    const database = population(100, DAY_1);
    const store = createInMemorySchedulerStore(database);
    const { dispatcher, calls } = recordingDispatcher();
    const { runs } = await runChain({
      store,
      dispatcher,
      now: DAY_1,
      continuerOutcome: { ok: false, retriable: true, reason: "scheduler answered HTTP 503" },
      settings: { ...SETTINGS, maxUsersPerTick: 60 },
    });
    expect(calls).toHaveLength(60);
    expect(runs[0]?.chain?.continuation).toEqual({
      status: "failed",
      nextStep: 1,
      detail: "scheduler answered HTTP 503",
    });
    expect(runs[0]?.results.hasMore).toBe(true);
  });

  it("never starts a chain from a single (manual) run", async () => {
    const database = population(100, DAY_1);
    const store = createInMemorySchedulerStore(database);
    const { dispatcher, calls } = recordingDispatcher();
    const run = await runScheduler({
      store,
      dispatcher,
      settings: { ...SETTINGS, maxUsersPerTick: 60 },
      now: DAY_1,
      trigger: "manual",
      runId: "manual",
      elapsedMs: () => 0,
    });
    expect(calls).toHaveLength(60);
    expect(run.chain).toBeNull();
    expect(run.results.hasMore).toBe(true);
    expect(database.schedulerChainSteps.size).toBe(0);
  });
});

/**
 * Runs a cron tick's chain on one virtual clock: each step starts when the step before it
 * called its continuation, and waiting (for the pace, or for the next minute) moves the clock.
 * Returns the runs, and each dispatch with its instant.
 */
async function runTimedChain({
  store,
  now,
  settings,
  maxSteps = 100,
  deliverTwice = false,
}: {
  store: SchedulerStore;
  now: number;
  settings: SchedulerSettings;
  maxSteps?: number;
  /** Delivers every step a second time, 5 s after the first ended (Vercel's duplicate deliveries). */
  deliverTwice?: boolean;
}) {
  const chainId = `cron_${new Date(now).toISOString().slice(0, 13)}`;
  const lastStartAt = chainLastStartAt({ chainId, lastStartMinute: SCHEDULER_CHAIN_LAST_START_MINUTE });
  const dispatches: { userId: string; at: number; step: number }[] = [];
  const runs: SchedulerRunRecord[] = [];
  const starts: number[] = [];
  const duplicates: SchedulerRunRecord[] = [];
  let next: (ChainContinuation & { at: number }) | null = { chainId, step: 0, after: null, at: now };
  while (next) {
    const current: ChainContinuation & { at: number } = next;
    next = null;
    let elapsed = 0;
    const clockNow = () => current.at + elapsed;
    starts.push(current.at);
    const continuer: ChainContinuer = {
      async continueChain(continuation) {
        next = { ...continuation, at: clockNow() };
        return { ok: true, status: 202 };
      },
    };
    const dispatcher: Dispatcher = {
      async dispatch({ userId }) {
        dispatches.push({ userId, at: clockNow(), step: current.step });
        return { ok: true, status: 202 };
      },
    };
    runs.push(
      await runScheduler({
        store,
        dispatcher,
        settings,
        now: current.at,
        trigger: current.step === 0 ? "cron" : "continuation",
        runId: `${chainId}-step-${current.step}`,
        elapsedMs: () => elapsed,
        waitUntil: async (target) => {
          elapsed = Math.max(elapsed, target);
        },
        random: () => 0.5,
        chain: {
          chainId,
          step: current.step,
          after: current.after,
          minuteShare: current.minuteShare ?? null,
          lastStartAt,
          maxSteps,
          stepLeaseMs: LEASE_MS,
          continuer,
        },
      }),
    );
    if (deliverTwice) {
      const at = clockNow() + 5_000;
      duplicates.push(
        await runScheduler({
          store,
          dispatcher,
          settings,
          now: at,
          trigger: current.step === 0 ? "cron" : "continuation",
          runId: `${chainId}-step-${current.step}-again`,
          elapsedMs: () => 0,
          waitUntil: async () => {},
          chain: {
            chainId,
            step: current.step,
            after: current.after,
            minuteShare: current.minuteShare ?? null,
            lastStartAt,
            maxSteps,
            stepLeaseMs: LEASE_MS,
            continuer: {
              async continueChain() {
                throw new Error("a duplicate delivery started a step");
              },
            },
          },
        }),
      );
    }
  }
  return { runs, dispatches, starts, lastStartAt, duplicates };
}

/** How many of `instants` fall in each UTC minute (or second, with `widthMs` 1,000). */
function countsPer(instants: readonly number[], widthMs = 60_000): number[] {
  const counts = new Map<number, number>();
  for (const at of instants)
    counts.set(Math.floor(at / widthMs), (counts.get(Math.floor(at / widthMs)) ?? 0) + 1);
  return [...counts.values()];
}

/** A chain paced to a ceiling of 150 calls a minute, with room for thousands of users a tick. */
const PACED: SchedulerSettings = {
  ...SETTINGS,
  maxUsersPerTick: 100_000,
  pageSize: 100,
  timeBudgetMs: 40_000,
  dispatchesPerMinute: 150,
  dispatchesPerSecond: 300,
  userWritesPerSecond: 150,
};

describe("a chain paced to the LLM ceiling", () => {
  it("dispatches a large group of equal due times at most the minute's share a minute, minute after minute, until it is drained", async () => {
    const users = 2_000;
    const database = population(users, DAY_1);
    const store = createInMemorySchedulerStore(database);
    const orders: string[][] = [];
    for (let day = 0; day < 2; day += 1) {
      const now = DAY_1 + day * 24 * HOUR;
      const { runs, dispatches } = await runTimedChain({ store, now, settings: PACED });
      const ids = dispatches.map((dispatch) => dispatch.userId);
      // Everyone once, within the hour's chain: none left for the next tick.
      expect(ids).toHaveLength(users);
      expect(new Set(ids).size).toBe(users);
      // The share in every UTC minute from the tick's on, never more: 14 minutes of 150 (the last 50).
      const perMinute = countsPer(dispatches.map((dispatch) => dispatch.at));
      expect(perMinute).toEqual([...Array.from({ length: 13 }, () => 150), 50]);
      expect(Math.floor((dispatches.at(-1)?.at ?? 0) / 60_000) - Math.floor(now / 60_000)).toBe(13);
      // A minute is longer than a step's budget: a step waits for the next minute within its
      // budget, and the next step, started with the minute's count, waits for the rest.
      expect(runs.length).toBeLessThanOrEqual(Math.ceil(14 * 1.5) + 1);
      expect(runs.slice(1).every((run) => run.chain?.startedAfter !== null)).toBe(true);
      // No step outlives its budget by waiting for the next minute.
      expect(runs.every((run) => (run.durationMs ?? 0) <= PACED.timeBudgetMs)).toBe(true);
      // And the dispatch pace holds: at most 300 starts in any second.
      expect(
        Math.max(
          ...countsPer(
            dispatches.map((dispatch) => dispatch.at),
            1_000,
          ),
        ),
      ).toBeLessThanOrEqual(300);
      expect(runs.at(-1)?.chain?.continuation.status).toBe("not_needed");
      orders.push(ids);
      await processorReschedules(database, ids, now + 30 * 60_000);
    }
    const [yesterday = [], today = []] = orders;
    expect(today.at(-1)).not.toBe(yesterday.at(-1));
    const lastTenthYesterday = new Set(yesterday.slice(-users / 10));
    expect(today.slice(-users / 10).filter((uid) => lastTenthYesterday.has(uid)).length).toBeLessThan(
      users / 10 / 4,
    );
  });

  it("lets a duplicate delivery of any paced step do nothing: no dispatch, no step started", async () => {
    const users = 700;
    const store = createInMemorySchedulerStore(population(users, DAY_1));
    const { runs, dispatches, duplicates } = await runTimedChain({
      store,
      now: DAY_1,
      settings: PACED,
      deliverTwice: true,
    });
    expect(runs.length).toBeGreaterThan(3);
    expect(dispatches).toHaveLength(users);
    expect(new Set(dispatches.map((dispatch) => dispatch.userId)).size).toBe(users);
    expect(duplicates).toHaveLength(runs.length);
    expect(duplicates.every((run, index) => run.chain?.duplicateOf === runs[index]?.runId)).toBe(true);
    expect(duplicates.every((run) => run.results.jobsCreated === 0 && run.results.usersDue === 0)).toBe(true);
  });

  it("goes on with the next step while the sweep's page is unfinished at the pace of writes, so a pass keeps its ticks", async () => {
    // 300 users the app wrote without a due time (a migration, say), and nobody due.
    const database = createInMemoryDatabase();
    for (let index = 0; index < 300; index += 1) {
      database.users.set(`missing-${String(index).padStart(3, "0")}`, userDocument({ frequency: "daily" }));
    }
    const store = createInMemorySchedulerStore(database);
    // 10 writes a second and a 5 s budget: a step can write 50 of the page's 300.
    const settings = { ...PACED, timeBudgetMs: 5_000, userWritesPerSecond: 10, sweepSliceMs: 1_000 };
    const { runs } = await runTimedChain({ store, now: DAY_1, settings });
    expect(runs.length).toBeGreaterThanOrEqual(6);
    expect(runs.at(-1)?.chain?.continuation.status).toBe("not_needed");
    expect(
      [...database.users.values()].every((user) => typeof user.nextCoachingMessageDue === "number"),
    ).toBe(true);
  });

  it("starts no step after minute 55 of its hour, leaving the users it could not reach due for the next tick", async () => {
    const users = 1_500;
    const database = population(users, DAY_1);
    const store = createInMemorySchedulerStore(database);
    const settings = { ...PACED, dispatchesPerMinute: 20 };
    const { runs, dispatches, starts, lastStartAt } = await runTimedChain({ store, now: DAY_1, settings });
    expect(Math.max(...starts)).toBeLessThanOrEqual(lastStartAt);
    // 20 in each minute from 13:00 to 13:55: 56 minutes.
    expect(countsPer(dispatches.map((dispatch) => dispatch.at))).toEqual(
      Array.from({ length: 56 }, () => 20),
    );
    expect(dispatches).toHaveLength(56 * 20);
    expect(runs.at(-1)?.chain?.continuation).toMatchObject({ status: "chain_limit", nextStep: null });
    await processorReschedules(
      database,
      dispatches.map((dispatch) => dispatch.userId),
      DAY_1 + 10 * 60_000,
    );
    // Nobody dropped: those not reached are still due, for the 14:00 tick (09:00 in New York, inside the window).
    const stillDue = [...database.users.values()].filter((user) => user.nextCoachingMessageDue === DAY_1);
    expect(stillDue).toHaveLength(users - 56 * 20);
    const next = await runTimedChain({ store, now: DAY_1 + HOUR, settings });
    expect(next.dispatches).toHaveLength(users - 56 * 20);
    const served = new Set([...dispatches, ...next.dispatches].map((dispatch) => dispatch.userId));
    expect(served.size).toBe(users);
  });

  it("paces its own writes on users, carrying the rest to the next step without dropping anyone", async () => {
    // 600 users due at 12:00 New York time: outside the morning window, all moved to tomorrow.
    const users = 600;
    const database = population(users, DAY_1 + 4 * HOUR);
    // Ranked, as the engine writes due times: the walk sees them all from the first step.
    for (const [uid, user] of database.users) {
      user.coachingDueRank = dueRank({ uid, dueAt: DAY_1 + 4 * HOUR });
    }
    const store = createInMemorySchedulerStore(database);
    const writes: number[] = [];
    let clockNow = () => 0;
    const counting: SchedulerStore = new Proxy(store, {
      get(target, property, receiver) {
        const member: unknown = Reflect.get(target, property, receiver);
        if (property !== "setNextDue" || typeof member !== "function") return member;
        return async (updates: unknown[]) => {
          for (const _ of updates) writes.push(clockNow());
          return member.apply(target, [updates]);
        };
      },
    });
    const settings = {
      ...SETTINGS,
      pageSize: 100,
      timeBudgetMs: 2_000,
      userWritesPerSecond: 100,
      dispatchesPerSecond: 300,
    };
    // A chain whose clock the counting store reads: steps start where the previous one called its continuation.
    const chainId = "cron_2026-11-24T17";
    let at = DAY_1 + 4 * HOUR;
    let next: ChainContinuation | null = { chainId, step: 0, after: null };
    const runs: SchedulerRunRecord[] = [];
    while (next) {
      const current: ChainContinuation = next;
      next = null;
      let elapsed = 0;
      const startedAt = at;
      clockNow = () => startedAt + elapsed;
      runs.push(
        await runScheduler({
          store: counting,
          dispatcher: recordingDispatcher().dispatcher,
          settings,
          now: startedAt,
          trigger: current.step === 0 ? "cron" : "continuation",
          runId: `writes-${current.step}`,
          elapsedMs: () => elapsed,
          waitUntil: async (target) => {
            elapsed = Math.max(elapsed, target);
          },
          chain: {
            ...current,
            maxSteps: 100,
            stepLeaseMs: LEASE_MS,
            continuer: {
              async continueChain(continuation) {
                next = continuation;
                at = clockNow();
                return { ok: true, status: 202 };
              },
            },
          },
        }),
      );
    }
    expect(runs.length).toBeGreaterThan(1);
    expect(runs.slice(0, -1).every((run) => run.results.hasMore)).toBe(true);
    expect(writes).toHaveLength(users);
    // 100 a second, give or take one batch of a tenth.
    expect(Math.max(...countsPer(writes, 1_000))).toBeLessThanOrEqual(110);
    expect(
      [...database.users.values()].every(
        (user) => (user.nextCoachingMessageDue as number) > DAY_1 + 4 * HOUR,
      ),
    ).toBe(true);
  });
});

describe("the HTTP dispatcher", () => {
  /** The HTTP dispatcher with `fetchImpl` standing in for the processor route. */
  const httpDispatcherTo = (fetchImpl: typeof fetch, timeoutMs: number) =>
    createHttpDispatcher({ appUrl: "http://localhost:1", cronSecret: "x".repeat(16), timeoutMs, fetchImpl });

  /** A processor that never answers: the call ends only when its signal aborts. */
  const neverAnswering: typeof fetch = (_url, init) =>
    new Promise((_resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
    });

  it("ends a processor call when the step's deadline aborts it, well before its own timeout", async () => {
    const dispatcher = httpDispatcherTo(neverAnswering, 60_000);
    const deadline = new AbortController();
    setTimeout(() => deadline.abort(new Error("deadline")), 20);
    const startedAt = performance.now();
    const outcome = await dispatcher.dispatch({ userId: "u1", runId: "r1", signal: deadline.signal });
    expect(performance.now() - startedAt).toBeLessThan(5_000);
    expect(outcome).toMatchObject({ ok: false, retriable: true, unconfirmed: true });
  });

  it("tells a call that timed out unanswered (perhaps accepted) from one the processor refused", async () => {
    const silent = httpDispatcherTo(neverAnswering, 20);
    expect(await silent.dispatch({ userId: "u1", runId: "r1" })).toMatchObject({
      ok: false,
      unconfirmed: true,
    });
    const refusing = httpDispatcherTo(async () => new Response(null, { status: 503 }), 1_000);
    const refused = await refusing.dispatch({ userId: "u1", runId: "r1" });
    expect(refused).toMatchObject({ ok: false, retriable: true });
    expect(refused.ok === false && refused.unconfirmed).toBeFalsy();
  });
});

describe("scheduler configuration bounds", () => {
  const base = { NODE_ENV: "test", FIRESTORE_EMULATOR_HOST: "localhost:1" } as const;

  it("rejects a step whose budget and timeouts would overrun the route's maxDuration", () => {
    expect(() =>
      loadConfig({ ...base, SCHEDULER_TIME_BUDGET_MS: "45000", DISPATCH_TIMEOUT_MS: "10000" }),
    ).toThrow(/SCHEDULER_TIME_BUDGET_MS/);
    expect(() => loadConfig({ ...base, SCHEDULER_TIME_BUDGET_MS: "58000" })).toThrow(/maxDuration/);
  });

  it("bounds a chain by time: its last step starts early enough to end before the next hour's chain", () => {
    const config = loadConfig(base);
    expect(config.scheduler.chainLastStartMinute).toBe(SCHEDULER_CHAIN_LAST_START_MINUTE);
    expect(SCHEDULER_CHAIN_LAST_START_MINUTE * 60 + SCHEDULER_MAX_DURATION_SECONDS).toBeLessThan(3_600);
    expect(chainLastStartAt({ chainId: "cron_2026-11-24T13", lastStartMinute: 55 })).toBe(
      Date.parse("2026-11-24T13:55:00Z"),
    );
    // More steps than an unpaced hour takes are allowed: time bounds the chain, not the count.
    expect(loadConfig({ ...base, SCHEDULER_MAX_CHAIN_STEPS: "120" }).scheduler.maxChainSteps).toBe(120);
  });

  it("paces the scheduler to LLM_CALLS_PER_MINUTE: the ceiling ÷ the calls a run is expected to make", () => {
    expect(schedulerSettingsFromConfig(loadConfig(base)).dispatchesPerMinute).toBeNull();
    const paced = schedulerSettingsFromConfig(loadConfig({ ...base, LLM_CALLS_PER_MINUTE: "3000" }));
    expect(paced.dispatchesPerMinute).toBe(1_500);
    expect(dispatchesPerMinuteFor({ callsPerMinute: 1 })).toBe(1);
  });
});

describe("due ranks", () => {
  it("are fresh for every due time, never whole numbers, and lower by one step per missed window", () => {
    const ranks = Array.from({ length: 1_000 }, (_, index) => dueRank({ uid: `u${index}`, dueAt: DAY_1 }));
    expect(ranks.every((rank) => rank > 0 && rank < 1 && !Number.isInteger(rank))).toBe(true);
    expect(new Set(ranks).size).toBe(ranks.length);
    expect(dueRank({ uid: "u1", dueAt: DAY_1 })).toBe(ranks[1]);
    expect(dueRank({ uid: "u1", dueAt: DAY_1 + 24 * HOUR })).not.toBe(ranks[1]);
    const missedOnce = dueRank({ uid: "u1", dueAt: DAY_1, missedWindows: 1 });
    expect(missedOnce).toBeCloseTo((ranks[1] ?? 0) - 1, 12);
    expect(missedWindowsOf(missedOnce)).toBe(1);
    expect(missedWindowsOf(dueRank({ uid: "u1", dueAt: DAY_1, missedWindows: 3 }))).toBe(3);
    expect(missedWindowsOf(ranks[1])).toBe(0);
    expect(missedWindowsOf(undefined)).toBe(0);
    const lowest = dueRank({ uid: "u1", dueAt: DAY_1, missedWindows: 1_000 });
    expect(lowest).toBeGreaterThan(LOWEST_RANK);
    expect(Number.isInteger(lowest)).toBe(false);
    expect(missedWindowsOf(lowest)).toBe(MAX_MISSED_WINDOWS);
  });
});

describe("scheduler configuration", () => {
  it("keeps the route's maxDuration equal to SCHEDULER_MAX_DURATION_SECONDS, below a step's lease", () => {
    const route = readFileSync(
      new URL("../../../src/app/api/coaching/generateCoachingMessage/scheduler/route.ts", import.meta.url),
      "utf8",
    );
    expect(route).toContain(`export const maxDuration = ${SCHEDULER_MAX_DURATION_SECONDS};`);
    const config = loadConfig({ NODE_ENV: "test", FIRESTORE_EMULATOR_HOST: "localhost:1" });
    expect(config.scheduler.chainStepLeaseMs).toBeGreaterThan(SCHEDULER_MAX_DURATION_SECONDS * 1_000);
    expect(config.scheduler.timeBudgetMs).toBeLessThan(SCHEDULER_MAX_DURATION_SECONDS * 1_000);
    expect(config.scheduler).toMatchObject({ maxChainSteps: 100, maxUsersPerTick: 100_000, pageSize: 500 });
    // Together under Firestore's ~500 writes/s on `users`: the processor's (one per dispatch) and the scheduler's own.
    expect(config.scheduler.dispatchesPerSecond + config.scheduler.userWritesPerSecond).toBeLessThan(500);
    // The defaults leave a margin: budget, a dispatch's timeout and the continuation's within 60 s.
    const { timeBudgetMs, dispatchTimeoutMs, continuationTimeoutMs } = config.scheduler;
    expect(timeBudgetMs + dispatchTimeoutMs + continuationTimeoutMs).toBeLessThan(
      SCHEDULER_MAX_DURATION_SECONDS * 1_000,
    );
    expect(
      loadConfig({ NODE_ENV: "test", FIRESTORE_EMULATOR_HOST: "localhost:1", SCHEDULER_MAX_CHAIN_STEPS: "3" })
        .scheduler.maxChainSteps,
    ).toBe(3);
  });
});

/** Step 0 of the hour's cron chain at DAY_1 on a frozen clock, 60 users at most, starting its continuation with `continueChain`. */
function runFirstChainStep({
  store,
  dispatcher,
  runId,
  continueChain,
}: {
  store: SchedulerStore;
  dispatcher: Dispatcher;
  runId: string;
  continueChain: ChainContinuer["continueChain"];
}): Promise<SchedulerRunRecord> {
  return runScheduler({
    store,
    dispatcher,
    settings: { ...SETTINGS, maxUsersPerTick: 60 },
    now: DAY_1,
    trigger: "cron",
    runId,
    elapsedMs: () => 0,
    waitUntil: async () => {},
    chain: {
      chainId: "cron_2026-11-24T13",
      step: 0,
      after: null,
      maxSteps: 24,
      stepLeaseMs: LEASE_MS,
      continuer: { continueChain },
    },
  });
}

describe("a chain step's waits and its chain's continuity (review of the paced scheduler)", () => {
  it("never waits for a dispatch slot beyond its budget, however slow the pace against the concurrency", async () => {
    // 50 calls in flight at 1 a second: the 50th slot is 49 s away, past a 10 s budget (and the route's 60 s).
    const store = createInMemorySchedulerStore(population(100, DAY_1));
    const settings = {
      ...PACED,
      dispatchesPerMinute: null,
      dispatchesPerSecond: 1,
      dispatchConcurrency: 50,
      timeBudgetMs: 10_000,
    };
    const { runs, dispatches } = await runTimedChain({ store, now: DAY_1, settings });
    expect(runs.every((run) => (run.durationMs ?? 0) <= settings.timeBudgetMs)).toBe(true);
    // Every step dispatches what its budget admits at the pace (10 at 1 a second), no more.
    expect(runs[0]?.results.jobsCreated).toBe(10);
    expect(runs.every((run) => run.results.jobsCreated <= 10)).toBe(true);
    expect(new Set(dispatches.map((dispatch) => dispatch.userId)).size).toBe(100);
  });

  it("starts no more than the minute's share in any UTC minute, when a step's share runs on past the minute's end", async () => {
    // The tick starts at 13:00:50 (ranks its users for 4 s) and dispatches 10 a second: about 60 of
    // 13:00's 150 before the minute turns.
    const users = 600;
    const store = createInMemorySchedulerStore(population(users, DAY_1));
    // One call in flight: the virtual clock jumps to the last slot booked, so calls booked
    // ahead would be stamped later than they start.
    const settings = { ...PACED, dispatchesPerSecond: 10, dispatchConcurrency: 1 };
    const { dispatches } = await runTimedChain({ store, now: DAY_1 + 50_000, settings });
    expect(new Set(dispatches.map((dispatch) => dispatch.userId)).size).toBe(users);
    expect(dispatches).toHaveLength(users);
    const perMinute = countsPer(dispatches.map((dispatch) => dispatch.at));
    expect(Math.max(...perMinute)).toBeLessThanOrEqual(150);
    // 13:01 gets its whole share, not what 13:00 left on top of it.
    expect(perMinute[1]).toBe(150);
  });

  it("tries a continuation again when starting it failed for a passing reason, so the hour's chain goes on", async () => {
    const database = population(100, DAY_1);
    const store = createInMemorySchedulerStore(database);
    const { dispatcher, calls } = recordingDispatcher();
    const attempts: ChainContinuation[] = [];
    const run = await runFirstChainStep({
      store,
      dispatcher,
      runId: "retrying",
      async continueChain(next) {
        attempts.push(next);
        return attempts.length === 1
          ? { ok: false, retriable: true, reason: "scheduler answered HTTP 503" }
          : { ok: true, status: 202 };
      },
    });
    expect(calls).toHaveLength(60);
    expect(attempts).toHaveLength(2);
    expect(attempts[1]).toEqual(attempts[0]);
    expect(run.chain?.continuation).toEqual({ status: "dispatched", nextStep: 1 });
  });

  it("does not try again a continuation the route refused (a 4xx is not passing)", async () => {
    const store = createInMemorySchedulerStore(population(100, DAY_1));
    const attempts: ChainContinuation[] = [];
    const run = await runFirstChainStep({
      store,
      dispatcher: recordingDispatcher().dispatcher,
      runId: "refused",
      async continueChain(next) {
        attempts.push(next);
        return { ok: false, retriable: false, reason: "scheduler answered HTTP 400" };
      },
    });
    expect(attempts).toHaveLength(1);
    expect(run.chain?.continuation).toMatchObject({
      status: "failed",
      detail: "scheduler answered HTTP 400",
    });
  });

  it("takes its step when the claim's create() applied but its answer came back as an error", async () => {
    // A commit that applied, then DEADLINE_EXCEEDED: without the claim the hour's chain would be lost.
    const database = population(5, DAY_1);
    const base = createInMemorySchedulerStore(database);
    let failures = 0;
    const store: SchedulerStore = {
      ...base,
      async createChainStep(step) {
        const outcome = await base.createChainStep(step);
        if (failures === 0) {
          failures += 1;
          throw new Error("Firestore claim scheduler chain step failed: 4 DEADLINE_EXCEEDED");
        }
        return outcome;
      },
    };
    const { dispatcher, calls } = recordingDispatcher();
    const { runs } = await runChain({ store, dispatcher, now: DAY_1 });
    expect(failures).toBe(1);
    expect(runs[0]).toMatchObject({ status: "completed", chain: { attempt: 1, duplicateOf: null } });
    expect(calls).toHaveLength(5);
    expect(database.schedulerChainSteps.get("cron_2026-11-24T13_0_1")?.status).toBe("completed");
  });

  it("arms no dispatch deadline it cannot keep: an unbounded budget aborts no call", async () => {
    // Node runs a timer of more than 2^31 − 1 ms (or Infinity) after 1 ms: every call would be aborted.
    const store = createInMemorySchedulerStore(population(1, DAY_1));
    const run = await runScheduler({
      store,
      dispatcher: {
        async dispatch({ signal }) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          return {
            ok: false,
            retriable: true,
            reason: signal?.aborted ? "aborted" : "processor answered HTTP 503",
          };
        },
      },
      settings: { ...SETTINGS, timeBudgetMs: Number.POSITIVE_INFINITY },
      now: DAY_1,
      trigger: "test",
      runId: "unbounded",
      elapsedMs: () => 0,
    });
    expect(run.results).toMatchObject({ jobsCreated: 0, dispatchesUnconfirmed: 0, errors: 1 });
    expect(Object.values(run.userResults)).toEqual([
      { result: "dispatch_failed", detail: "processor answered HTTP 503" },
    ]);
  });
});

describe("a step's waits on the real clock", () => {
  it("never ends a wait before the step's clock reaches it, though a timer may fire early by that clock", async () => {
    // Node's timers run on the event loop's cached time and may fire a little before a fresh
    // reading of the step's clock says they should; here the step's clock runs at half speed,
    // so every timer fires early by it. A wait cut short would start calls before their slot.
    const store = createInMemorySchedulerStore(population(3, DAY_1));
    const startedAt = performance.now();
    const elapsedMs = () => (performance.now() - startedAt) / 2;
    const startedAtMs: number[] = [];
    await runScheduler({
      store,
      dispatcher: {
        async dispatch() {
          startedAtMs.push(elapsedMs());
          return { ok: true, status: 202 };
        },
      },
      settings: { ...SETTINGS, dispatchesPerSecond: 20, dispatchConcurrency: 3, userWritesPerSecond: 1_000 },
      now: DAY_1,
      trigger: "test",
      runId: "early-timers",
      elapsedMs,
    });
    expect(startedAtMs).toHaveLength(3);
    // Slots 50 ms apart at 20 a second, from the first call's.
    const first = startedAtMs[0] ?? 0;
    expect(startedAtMs.map((at) => at - first >= 0)).toEqual([true, true, true]);
    expect(startedAtMs[1]).toBeGreaterThanOrEqual(first + 50 - 1);
    expect(startedAtMs[2]).toBeGreaterThanOrEqual(first + 100 - 1);
  });
});
