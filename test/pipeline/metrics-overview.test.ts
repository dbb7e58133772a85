/**
 * The dashboard's ranges read from rollup documents (pipeline/metrics-overview.ts): a range names
 * its top models, and every bucket names the same ones, so a model folded into the range's
 * "(other models)" is drawn there in each bucket rather than nowhere.
 */
import { describe, expect, it } from "vitest";
import { emptyFigures, type MetricsFigures } from "@/core/metrics";
import { HOUR_MS, hourStartOf } from "@/core/metrics-hours";
import { callsByModel, MAX_MODELS_SHOWN, OTHER_MODELS, withLlmEstimates } from "@/core/metrics-llm";
import { readMetricsOverview } from "@/pipeline/metrics-overview";
import type { HourlyMetrics, MetricsReader } from "@/pipeline/roll-up-metrics";

const NOW = Date.parse("2026-11-30T06:20:00.000Z");

/** An hour read whole, whose calls are `perModel` (model → calls). */
function hourOf(perModel: Record<string, number>): MetricsFigures {
  const calls = Object.entries(perModel).flatMap(([model, count]) =>
    Array.from({ length: count }, () => ({ model, ok: true, durationMs: 1_000, cost: 0.01 })),
  );
  return withLlmEstimates({
    ...emptyFigures(),
    messages: { ...emptyFigures().messages, sent: calls.length },
    llm: { ...emptyFigures().llm, sampledMessages: calls.length, byModel: callsByModel(calls) },
  });
}

function readerOf(hourly: HourlyMetrics[]): MetricsReader {
  return {
    readHours: async ({ from, to }) => hourly.filter((hour) => hour.hourStart >= from && hour.hourStart < to),
    readDays: async () => [],
    readEngagement: async () => [],
  };
}

describe("the dashboard's metrics ranges", () => {
  it("names the range's top models in every bucket: a model the range folds is drawn under the other models", async () => {
    const busy = Object.fromEntries(
      Array.from({ length: MAX_MODELS_SHOWN }, (_, index) => [`big/m${index}`, 10]),
    );
    const previousHour = hourStartOf(NOW) - HOUR_MS;
    const hourly: HourlyMetrics[] = [
      // An earlier hour names the range's top models; the last one only a small model.
      { hourStart: previousHour - HOUR_MS, computedAt: NOW, figures: hourOf(busy), snapshot: null },
      { hourStart: previousHour, computedAt: NOW, figures: hourOf({ "small/model": 3 }), snapshot: null },
    ];
    const overview = await readMetricsOverview({ reader: readerOf(hourly), range: "24h", now: NOW });
    const rangeModels = overview.totals.rates.llm.byModel.map((entry) => entry.model);
    expect(rangeModels).toHaveLength(MAX_MODELS_SHOWN + 1);
    expect(rangeModels.at(-1)).toBe(OTHER_MODELS);
    const last = overview.series.at(-1);
    expect(last?.start).toBe(previousHour);
    // The chart draws the range's models: the small model's calls are under "(other models)".
    expect(last?.rates?.llm.byModel).toEqual([
      expect.objectContaining({ model: OTHER_MODELS, calls: 3, estimatedCalls: 3 }),
    ]);
    for (const entry of overview.series) {
      for (const model of entry.rates?.llm.byModel ?? []) expect(rangeModels).toContain(model.model);
    }
  });

  it("takes the users by the enable flag from the newest snapshot that has them: an hour whose mirror counts failed shows the hour before's", async () => {
    const previousHour = hourStartOf(NOW) - HOUR_MS;
    const snapshot = { usersTotal: 10, usersByStatus: { waiting: 9 }, pendingEvents: 0, deadLetters: 0 };
    const hourly: HourlyMetrics[] = [
      {
        hourStart: previousHour - HOUR_MS,
        computedAt: NOW,
        figures: emptyFigures(),
        snapshot: {
          ...snapshot,
          at: previousHour,
          usersEnabled: 7,
          usersEnabledSuspended: 1,
          usersDisabled: 2,
        },
      },
      // The mirror counts failed in the newest hour: stored without them.
      {
        hourStart: previousHour,
        computedAt: NOW,
        figures: emptyFigures(),
        snapshot: { ...snapshot, at: NOW },
      },
    ];
    const overview = await readMetricsOverview({ reader: readerOf(hourly), range: "24h", now: NOW });
    expect(overview.snapshot?.at).toBe(NOW);
    expect(overview.users).toMatchObject({ asOf: previousHour, enabled: 7, active: 6, disabled: 2 });
  });
});
