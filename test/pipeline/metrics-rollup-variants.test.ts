/**
 * The metrics rollup per prompt variant on the emulator: a scripted hour of an experiment's
 * attempts (test/support/experiment-script.ts) is counted per variant, hour and engagement day,
 * with aggregation queries only (bounded whatever the number of users), each with its index;
 * and the dashboard's comparison reads off the rollups.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFirestoreMetricsStore } from "@/adapters/firestore/metrics-store";
import { DAY_MS } from "@/core/metrics-hours";
import { compareVariants } from "@/core/prompt-experiments";
import { readMetricsOverview } from "@/pipeline/metrics-overview";
import { rollUpMetrics } from "@/pipeline/roll-up-metrics";
import { EXPERIMENT_ID, seedExperimentScript } from "../support/experiment-script";
import { type EmulatorHandle, startTestEmulator } from "../support/firestore";
import {
  queriesMissingIndexes,
  queriesOnUnindexedFields,
  readFieldOverrides,
  readIndexes,
} from "../support/index-coverage";

const NOW = Date.parse("2026-11-30T06:20:00.000Z");
const HOUR_05 = Date.parse("2026-11-30T05:00:00.000Z");
const KEYS = [`${EXPERIMENT_ID}/control`, `${EXPERIMENT_ID}/warmer`];
const experiment = { id: EXPERIMENT_ID, variants: [{ id: "warmer", share: 0.25, version: "mg/3-warmer" }] };

let handle: EmulatorHandle;

beforeAll(async () => {
  handle = await startTestEmulator();
}, 60_000);

afterAll(async () => {
  await handle?.stop();
});

describe("the metrics rollup per prompt variant", () => {
  it("counts each variant's attempts by status and rating, and its engagement, exactly", async () => {
    const { db } = handle.freshProject("metrics-variants");
    await seedExperimentScript(db, { hourStart: HOUR_05 });
    const store = createFirestoreMetricsStore(db, { promptVariants: KEYS });
    await rollUpMetrics({
      store,
      now: NOW,
      elapsedMs: () => 0,
      settings: { lookbackHours: 2, maxHoursPerRun: 6, maxEngagementDaysPerRun: 2, budgetMs: 60_000 },
    });

    const hour = (await db.doc("metricsHourly/2026-11-30T05").get()).data();
    expect(hour?.figures.variants).toEqual({
      [`${EXPERIMENT_ID}/control`]: {
        sent: 4,
        approved: 0,
        rejected: 1,
        failed: 1,
        ratings: [0, 0, 0, 1, 0, 0, 1, 2, 1, 0],
      },
      [`${EXPERIMENT_ID}/warmer`]: {
        sent: 3,
        approved: 1,
        rejected: 0,
        failed: 0,
        ratings: [0, 0, 0, 0, 0, 0, 1, 1, 2, 0],
      },
    });
    // The hours without attempts of a variant are counted too (zeros), so a range sums them.
    const before = (await db.doc("metricsHourly/2026-11-30T04").get()).data();
    expect(before?.figures.variants?.[`${EXPERIMENT_ID}/warmer`]).toMatchObject({ sent: 0, approved: 0 });

    const engagement = (await db.doc("metricsEngagement/2026-11-30").get()).data();
    expect(engagement?.byVariant).toEqual([
      {
        variant: `${EXPERIMENT_ID}/control`,
        sent: 4,
        delivered: 4,
        opened: 2,
        clicked: 1,
        helpful: 1,
        rated: 2,
        pushDelivered: 0,
      },
      {
        variant: `${EXPERIMENT_ID}/warmer`,
        sent: 3,
        delivered: 3,
        opened: 3,
        clicked: 2,
        helpful: 2,
        rated: 2,
        pushDelivered: 0,
      },
    ]);

    // The dashboard's 14 days, read from the rollups only, compared.
    const overview = await readMetricsOverview({ reader: store, range: "14d", now: NOW + DAY_MS / 2 });
    const [control, warmer] = compareVariants({
      experiment,
      stopped: new Set([`${EXPERIMENT_ID}/warmer`]),
      figures: overview.totals.figures.variants ?? {},
      engagement: overview.engagement.byVariant ?? [],
    });
    expect(control).toMatchObject({
      variant: "control",
      share: 0.75,
      stopped: false,
      attempts: 6,
      gatePass: { successes: 4, trials: 5, rate: 0.8 },
      meanRating: { count: 5, mean: 7.2 },
      sent: 4,
      opened: { successes: 2, trials: 4 },
      clicked: { successes: 1, trials: 4 },
      helpful: { successes: 1, trials: 2 },
    });
    expect(warmer).toMatchObject({
      variant: "warmer",
      share: 0.25,
      stopped: true,
      attempts: 4,
      gatePass: { successes: 4, trials: 4, rate: 1 },
      meanRating: { count: 4, mean: 8.25 },
      opened: { successes: 3, trials: 3 },
    });
    expect(warmer?.gatePass?.low).toBeLessThan(1);
  });

  it("counts nothing per variant without an experiment", async () => {
    const { db } = handle.freshProject("metrics-no-variants");
    await seedExperimentScript(db, { hourStart: HOUR_05 });
    const store = createFirestoreMetricsStore(db);
    await rollUpMetrics({
      store,
      now: NOW,
      elapsedMs: () => 0,
      settings: { lookbackHours: 1, maxHoursPerRun: 1, maxEngagementDaysPerRun: 1, budgetMs: 60_000 },
    });
    const hour = (await db.doc("metricsHourly/2026-11-30T05").get()).data();
    expect(hour?.figures.variants).toBeUndefined();
    expect((await db.doc("metricsEngagement/2026-11-30").get()).data()?.byVariant).toBeUndefined();
  });

  it("issues only queries that have their index, on indexed fields", () => {
    const queries = handle.emulator.recordedQueries();
    expect(queries.some((query) => JSON.stringify(query).includes("promptVariant"))).toBe(true);
    expect(queriesMissingIndexes(queries, readIndexes())).toEqual([]);
    expect(queriesOnUnindexedFields(queries, readFieldOverrides())).toEqual([]);
  });
});
