/**
 * The hourly metrics rollup on the emulator: a scripted set of messages, slots, scheduler runs,
 * events and users goes in, and the hourly, daily and engagement documents hold exactly what
 * was scripted. Every query it issues has its index.
 */
import type { Firestore, Query, WhereFilterOp } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFirestoreAlertSignals, createFirestoreAlertStore } from "@/adapters/firestore/alert-store";
import { COACHING_ENABLED_FIELD, COLLECTIONS } from "@/adapters/firestore/collections";
import { createFirestoreMetricsStore } from "@/adapters/firestore/metrics-store";
import { alertId } from "@/core/alert-lifecycle";
import { deriveRates } from "@/core/metrics";
import { DAY_MS, HOUR_MS } from "@/core/metrics-hours";
import { evaluateAlerts } from "@/pipeline/evaluate-alerts";
import {
  type MetricsRollupStore,
  type RollupSettings,
  rollUpAfterTick,
  rollUpMetrics,
} from "@/pipeline/roll-up-metrics";
import { type EmulatorHandle, putDocuments, startTestEmulator } from "../support/firestore";
import {
  queriesMissingIndexes,
  queriesOnUnindexedFields,
  readFieldOverrides,
  readIndexes,
} from "../support/index-coverage";
import { scriptedModelRates, seedMetricsScript } from "../support/metrics-script";

const NOW = Date.parse("2026-11-30T06:20:00.000Z");
const HOUR_05 = Date.parse("2026-11-30T05:00:00.000Z");
const SETTINGS: RollupSettings = {
  lookbackHours: 3,
  maxHoursPerRun: 6,
  maxEngagementDaysPerRun: 3,
  budgetMs: 60_000,
};
const noTime = () => 0;

let handle: EmulatorHandle;

beforeAll(async () => {
  handle = await startTestEmulator();
}, 60_000);

afterAll(async () => {
  await handle?.stop();
});

function project(): { db: Firestore; projectId: string } {
  return handle.freshProject("metrics");
}

/** A value of `target` as its own method would see it (bound), for the proxies below. */
function bound(target: object, property: string | symbol): unknown {
  const value: unknown = Reflect.get(target, property, target);
  return typeof value === "function" ? value.bind(target) : value;
}

/**
 * `db`, except that a count over `collection` filtered on every one of `fields` fails with
 * FAILED_PRECONDITION, as real Firestore answers a query whose composite index is missing or
 * still building. Everything else reaches the emulator.
 */
function indexMissingFor(db: Firestore, collection: string, fields: readonly string[]): Firestore {
  const wrap = (query: Query, filtered: readonly string[]): Query =>
    new Proxy(query, {
      get(target, property) {
        if (property === "where") {
          return (field: string, op: WhereFilterOp, value: unknown) =>
            wrap(target.where(field, op, value), [...filtered, field]);
        }
        if (property === "count" && fields.every((field) => filtered.includes(field))) {
          return () => ({
            get: async () => {
              throw Object.assign(
                new Error("9 FAILED_PRECONDITION: The query requires an index (injected)"),
                {
                  code: 9,
                },
              );
            },
          });
        }
        return bound(target, property);
      },
    });
  return new Proxy(db, {
    get(target, property) {
      if (property === "collection") {
        return (name: string) =>
          name === collection ? wrap(target.collection(name), []) : target.collection(name);
      }
      return bound(target, property);
    },
  });
}

describe("the hourly metrics rollup", () => {
  it("counts a scripted hour exactly, and the hours around it", async () => {
    const { db } = project();
    await seedMetricsScript(db, { hourStart: HOUR_05 });
    const store = createFirestoreMetricsStore(db);

    const report = await rollUpMetrics({ store, now: NOW, elapsedMs: noTime, settings: SETTINGS });
    expect(report.hoursCreated).toEqual(["2026-11-30T05", "2026-11-30T04", "2026-11-30T03"]);
    expect(report.stoppedByBudget).toBe(false);

    const stored = (await db.doc("metricsHourly/2026-11-30T05").get()).data();
    expect(stored?.hourStart).toBe(HOUR_05);
    expect(stored?.figures.messages).toEqual({ sent: 4, approved: 1, rejected: 2, failed: 1, delivered: 4 });
    expect(stored?.figures.slotsCompleted).toBe(5);
    expect(stored?.figures.scheduler).toEqual({
      runs: 3,
      cronTicks: 1,
      continuations: 1,
      failedRuns: 1,
      usersDue: 12,
      dispatched: 7,
      deferred: 2,
      errors: 1,
      runsWithMore: 1,
    });
    expect(stored?.figures.outbox).toEqual({ processed: 3, deadLettered: 1, claims: 6 });
    expect(stored?.snapshot).toEqual({
      at: NOW,
      usersTotal: 4,
      usersByStatus: { waiting: 2, running: 0, suspended: 1, error: 1 },
      pendingEvents: 1,
      deadLetters: 1,
      // By the mirror: w1 and s1 enabled (s1 suspended), e1 disabled, w2 never looked at.
      usersEnabled: 2,
      usersEnabledSuspended: 1,
      usersDisabled: 1,
    });
    // Everything counted: no marker (an hour reads `countsFailed` absent as nothing failed).
    expect(stored?.countsFailed).toBeUndefined();
    const rates = deriveRates(stored?.figures);
    expect(rates.generated).toBe(7);
    expect(rates.gatePassRate).toBeCloseTo(5 / 7);
    expect(rates.failureRate).toBeCloseTo(1 / 8);
    // Every attempt of a quiet hour is read: the sample is the whole hour.
    expect(stored?.figures.llm.sampledMessages).toBe(8);
    expect(rates.llm.sampledCalls).toBe(10);
    expect(rates.llm.estimatedCalls).toBe(10);
    expect(rates.llm.errorRate).toBeCloseTo(0.1);
    expect(rates.llm.latencyP50Ms).toBe(1_500);
    expect(rates.llm.latencyP95Ms).toBe(30_000);
    expect(rates.llm.byModel.map((model) => [model.model, model.calls])).toEqual([
      ["test/coach", 8],
      ["test/scorer", 2],
    ]);
    // Per model, stored with the hour: its own figures and estimates (the hour was read whole).
    expect(stored?.figures.llm.byModel["test/coach"]).toMatchObject({
      calls: 8,
      errors: 1,
      estimatedCalls: 8,
      estimatedCostUsd: expect.closeTo(0.007, 9),
    });
    expect(stored?.figures.llm.byModel["test/scorer"]).toMatchObject({
      calls: 2,
      errors: 0,
      estimatedCalls: 2,
      estimatedCostUsd: expect.closeTo(0.002, 9),
    });
    expect(deriveRates(stored?.figures, { hours: 1 }).llm.byModel).toEqual(scriptedModelRates());
    expect(rates.outboxRetries).toBe(2);

    // The message sent at 04:59:59.999 belongs to hour 04; nothing was scripted at 03.
    const four = (await db.doc("metricsHourly/2026-11-30T04").get()).data();
    expect(four?.figures.messages).toEqual({ sent: 1, approved: 0, rejected: 0, failed: 0, delivered: 1 });
    const three = (await db.doc("metricsHourly/2026-11-30T03").get()).data();
    expect(three?.figures.messages).toEqual({ sent: 0, approved: 0, rejected: 0, failed: 0, delivered: 0 });

    // The engagement of today's sent messages, per rating and per type.
    const engagement = (await db.doc("metricsEngagement/2026-11-30").get()).data();
    expect(engagement?.final).toBe(false);
    const nine = engagement?.byRating.find((row: { rating: number }) => row.rating === 9);
    expect(nine).toEqual({
      rating: 9,
      sent: 4,
      delivered: 4,
      opened: 3,
      clicked: 1,
      helpful: 2,
      rated: 2,
      pushDelivered: 1,
    });
    const challenge = engagement?.byType.find(
      (row: { messageType: string }) => row.messageType === "challenge",
    );
    expect(challenge).toMatchObject({ sent: 1, opened: 0, helpful: 0, rated: 1 });

    // A second run finds every hour counted and today's engagement fresh: it goes on with the
    // days never counted (the backfill), three a run.
    const again = await rollUpMetrics({ store, now: NOW + 60_000, elapsedMs: noTime, settings: SETTINGS });
    expect(again).toMatchObject({
      hoursCreated: [],
      daysCreated: [],
      engagementDaysCounted: ["2026-11-27", "2026-11-26", "2026-11-25"],
    });
  });

  it("writes a day from its 24 hours once they are in, with the sums of the hours", async () => {
    const { db } = project();
    await seedMetricsScript(db, { hourStart: HOUR_05 });
    const store = createFirestoreMetricsStore(db);
    const nextDay = Date.parse("2026-12-01T00:15:00.000Z");
    const wide = { ...SETTINGS, lookbackHours: 30, maxHoursPerRun: 30 };
    const report = await rollUpMetrics({ store, now: nextDay, elapsedMs: noTime, settings: wide });
    expect(report.hoursCreated).toHaveLength(30);
    expect(report.daysCreated).toEqual(["2026-11-30"]);
    const day = (await db.doc("metricsDaily/2026-11-30").get()).data();
    expect(day?.hours).toBe(24);
    expect(day?.missingHours).toEqual([]);
    expect(day?.figures.messages).toEqual({ sent: 5, approved: 1, rejected: 2, failed: 1, delivered: 5 });
    expect(day?.figures.outbox).toEqual({ processed: 3, deadLettered: 1, claims: 6 });
    // The 29th has hours (18:00 on) but not all of them, and its first hours are still in the lookback.
    expect((await db.doc("metricsDaily/2026-11-29").get()).exists).toBe(false);
  });

  it("counts each hour once when two rollups run at the same time", async () => {
    const { db } = project();
    await seedMetricsScript(db, { hourStart: HOUR_05 });
    const store = createFirestoreMetricsStore(db);
    const [first, second] = await Promise.all([
      rollUpMetrics({ store, now: NOW, elapsedMs: noTime, settings: SETTINGS }),
      rollUpMetrics({ store, now: NOW, elapsedMs: noTime, settings: SETTINGS }),
    ]);
    const created = [...first.hoursCreated, ...second.hoursCreated].sort();
    expect(created).toEqual(["2026-11-30T03", "2026-11-30T04", "2026-11-30T05"]);
    const hours = await store.readHours({ from: NOW - DAY_MS, to: NOW });
    expect(hours).toHaveLength(3);
    expect(hours.find((hour) => hour.hourStart === HOUR_05)?.figures.messages.sent).toBe(4);
  });

  it("catches up a few hours per run, and starts nothing once its time budget is spent", async () => {
    const { db } = project();
    const store = createFirestoreMetricsStore(db);
    const spent = await rollUpMetrics({
      store,
      now: NOW,
      elapsedMs: () => 60_000,
      settings: { ...SETTINGS, budgetMs: 10_000 },
    });
    expect(spent).toEqual({
      hoursCreated: [],
      hoursFoundTaken: [],
      daysCreated: [],
      engagementDaysCounted: [],
      stoppedByBudget: true,
    });
    const capped = await rollUpMetrics({
      store,
      now: NOW,
      elapsedMs: noTime,
      settings: { ...SETTINGS, lookbackHours: 10, maxHoursPerRun: 2 },
    });
    // Newest first: the latest figures are there after the first run.
    expect(capped.hoursCreated).toEqual(["2026-11-30T05", "2026-11-30T04"]);
  });

  it("reads a dashboard's worth of rollups with the same reads whatever the number of users", async () => {
    const reads = async (users: number) => {
      const { db, projectId } = project();
      await seedMetricsScript(db, { hourStart: HOUR_05 });
      await putDocuments(
        db,
        "users",
        Array.from({ length: users }, (_, index): [string, Record<string, unknown>] => [
          `extra-${index}`,
          {},
        ]),
      );
      const store = createFirestoreMetricsStore(db);
      await rollUpMetrics({ store, now: NOW, elapsedMs: noTime, settings: SETTINGS });
      handle.emulator.resetStats(projectId);
      await Promise.all([
        store.readHours({ from: NOW - DAY_MS, to: NOW }),
        store.readDays({ from: NOW - 14 * DAY_MS, to: NOW }),
        store.readEngagement({ from: NOW - 14 * DAY_MS, to: NOW }),
      ]);
      return handle.emulator.stats(projectId).billedReads;
    };
    const few = await reads(5);
    const many = await reads(300);
    expect(many).toBe(few);
    expect(few).toBeLessThanOrEqual(24 + 14 + 15);
  });

  it("counts the hours when the snapshot cannot be read: the snapshot is null and the failure reported", async () => {
    const { db } = project();
    await seedMetricsScript(db, { hourStart: HOUR_05 });
    const store = createFirestoreMetricsStore(db);
    let snapshotCalls = 0;
    // The fault at the port: the optional snapshot's reads fail, as a slow count() timing out would.
    const failingSnapshot: MetricsRollupStore = {
      ...store,
      snapshot: async () => {
        snapshotCalls += 1;
        throw new Error("4 DEADLINE_EXCEEDED: injected");
      },
    };
    const report = await rollUpMetrics({
      store: failingSnapshot,
      now: NOW,
      elapsedMs: noTime,
      settings: SETTINGS,
    });
    expect(snapshotCalls).toBe(1);
    expect(report.hoursCreated).toContain("2026-11-30T05");
    expect(report.snapshotError).toBeInstanceOf(Error);
    const hour = (await db.doc("metricsHourly/2026-11-30T05").get()).data();
    expect(hour?.figures.messages.sent).toBe(4);
    expect(hour?.snapshot).toBeNull();
    // Marked, so the metrics_counts_failing alert tells the operator (not the null: an older
    // version's document may lack figures without any count having failed).
    expect(hour?.countsFailed).toEqual(["snapshot"]);
  });

  it("keeps the snapshot when the enabled-user counts fail (their index still building): those alone are left out and reported", async () => {
    const { db } = project();
    await seedMetricsScript(db, { hourStart: HOUR_05 });
    // The fault at the adapter's Firestore: a count over `coachingEnabled` and `suspendUntil`
    // fails as real Firestore fails while that composite index builds (or before it is deployed).
    const store = createFirestoreMetricsStore(
      indexMissingFor(db, COLLECTIONS.users, [COACHING_ENABLED_FIELD, "suspendUntil"]),
    );
    const report = await rollUpMetrics({ store, now: NOW, elapsedMs: noTime, settings: SETTINGS });
    expect(report.hoursCreated).toContain("2026-11-30T05");
    expect(report.snapshotError).toBeUndefined();
    expect(report.userCountsError).toBeInstanceOf(Error);
    const hour = (await db.doc("metricsHourly/2026-11-30T05").get()).data();
    expect(hour?.snapshot).toEqual({
      at: NOW,
      usersTotal: 4,
      usersByStatus: { waiting: 2, running: 0, suspended: 1, error: 1 },
      pendingEvents: 1,
      deadLetters: 1,
    });
    expect(hour?.countsFailed).toEqual(["usersByFlag"]);
  });

  it("an hour whose enabled-user counts failed fires metrics_counts_failing once; a later hour that counts resolves it", async () => {
    const { db } = project();
    await seedMetricsScript(db, { hourStart: HOUR_05 });
    const missingIndex = createFirestoreMetricsStore(
      indexMissingFor(db, COLLECTIONS.users, [COACHING_ENABLED_FIELD, "suspendUntil"]),
    );
    await rollUpMetrics({ store: missingIndex, now: NOW, elapsedMs: noTime, settings: SETTINGS });
    const evaluate = (now: number) =>
      evaluateAlerts({
        store: createFirestoreAlertStore(db),
        signals: createFirestoreAlertSignals(db, { llmCeiling: null }),
        now,
        posting: null,
      });
    const id = alertId("metrics_counts_failing", NOW);
    // Two evaluations at once (a tick's and an outbox run's): one alert.
    const [first, second] = await Promise.all([evaluate(NOW), evaluate(NOW + 1)]);
    expect([...first.fired, ...second.fired].filter((fired) => fired === id)).toEqual([id]);
    const alert = (await db.doc(`alerts/${id}`).get()).data();
    expect(alert).toMatchObject({ condition: "metrics_counts_failing", status: "open" });
    expect(alert?.summary).toBe(
      "the metrics rollup could not count users by the enable flag for the hour 2026-11-30T05 (is the coachingEnabled + suspendUntil index deployed?)",
    );
    expect((await evaluate(NOW + 60_000)).fired).not.toContain(id);

    // The index deployed: the next hour counts everything, and the alert resolves.
    await rollUpMetrics({
      store: createFirestoreMetricsStore(db),
      now: NOW + HOUR_MS,
      elapsedMs: noTime,
      settings: SETTINGS,
    });
    expect((await evaluate(NOW + HOUR_MS)).resolved).toContain(id);
    expect((await db.doc(`alerts/${id}`).get()).get("status")).toBe("resolved");
  });

  it("after a tick: a failing count is reported as data, and the next tick counts the hour", async () => {
    const { db } = project();
    await seedMetricsScript(db, { hourStart: HOUR_05 });
    const store = createFirestoreMetricsStore(db);
    let failures = 0;
    // The fault at the port: the hour's counts fail once, as Firestore being unreachable would.
    const failingOnce: MetricsRollupStore = {
      ...store,
      countHour: async (hourStart) => {
        if (failures === 0) {
          failures += 1;
          throw new Error("14 UNAVAILABLE: injected");
        }
        return store.countHour(hourStart);
      },
    };
    const run = { chain: null };
    const failed = await rollUpAfterTick({
      store: failingOnce,
      run,
      now: NOW,
      elapsedMs: noTime,
      settings: SETTINGS,
    });
    expect(failures).toBe(1);
    expect(failed).toMatchObject({ status: "failed", error: expect.any(Error) });
    expect((await db.doc("metricsHourly/2026-11-30T05").get()).exists).toBe(false);

    const next = await rollUpAfterTick({
      store: failingOnce,
      run,
      now: NOW + HOUR_MS,
      elapsedMs: noTime,
      settings: SETTINGS,
    });
    expect(next.status).toBe("done");
    expect((await db.doc("metricsHourly/2026-11-30T05").get()).data()?.figures.messages.sent).toBe(4);
  });

  it("after a chain step that started the next one, or a duplicate delivery: rolls up nothing", async () => {
    const { db, projectId } = project();
    const store = createFirestoreMetricsStore(db);
    handle.emulator.resetStats(projectId);
    const chain = {
      chainId: "cron_2026-11-30T06",
      step: 0,
      attempt: 1,
      duplicateOf: null,
      startedAfter: null,
      handledUpTo: null,
      continuation: { status: "dispatched" as const, nextStep: 1 },
    };
    const outcome = await rollUpAfterTick({
      store,
      run: { chain },
      now: NOW,
      elapsedMs: noTime,
      settings: SETTINGS,
    });
    expect(outcome).toEqual({ status: "skipped", reason: "chain_continues" });
    const duplicate = await rollUpAfterTick({
      store,
      run: {
        chain: {
          ...chain,
          duplicateOf: "2026-11-30T06:00:00.000Z_0badcafe",
          continuation: { status: "none", nextStep: null },
        },
      },
      now: NOW,
      elapsedMs: noTime,
      settings: SETTINGS,
    });
    expect(duplicate).toEqual({ status: "skipped", reason: "duplicate_delivery" });
    expect(handle.emulator.stats(projectId).queries + handle.emulator.stats(projectId).writes).toBe(0);
  });

  it("issues only queries that have their index, on indexed fields", () => {
    const queries = handle.emulator.recordedQueries();
    expect(queries.length).toBeGreaterThan(10);
    expect(queriesMissingIndexes(queries, readIndexes())).toEqual([]);
    expect(queriesOnUnindexedFields(queries, readFieldOverrides())).toEqual([]);
  });
});
