import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { engagementDaysToCount, engagementIsFinal, mergeEngagement } from "@/core/engagement";
import { histogramPercentile, LATENCY_BUCKET_BOUNDS_MS, latencyBucket } from "@/core/latency-histogram";
import { deriveRates, emptyFigures, type MetricsFigures, mergeFigures, sumFigures } from "@/core/metrics";
import {
  DAY_MS,
  dayIsComplete,
  dayKey,
  HOUR_MS,
  HOUR_SETTLED_AFTER_MS,
  hourKey,
  hoursToRollUp,
  parseDayKey,
  parseHourKey,
} from "@/core/metrics-hours";
import { callsByModel, withLlmEstimates } from "@/core/metrics-llm";

const instant = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) });
const small = fc.nat({ max: 1_000 });
const sampledCall = fc.record({
  model: fc.constantFrom("a/sonnet", "b/haiku"),
  ok: fc.boolean(),
  durationMs: fc.nat({ max: 200_000 }),
  // Whole numbers: floating-point sums are not associative, and the property compares exactly.
  cost: fc.option(fc.nat({ max: 100 })),
});
const figures: fc.Arbitrary<MetricsFigures> = fc.record({
  messages: fc.record({ sent: small, approved: small, rejected: small, failed: small, delivered: small }),
  slotsCompleted: small,
  llm: fc.record({
    sampledMessages: small,
    byModel: fc.array(sampledCall, { maxLength: 20 }).map(callsByModel),
    estimatedCalls: small,
    // Whole numbers, like the costs above.
    estimatedCostUsd: small,
  }),
  scheduler: fc.record({
    runs: small,
    cronTicks: small,
    continuations: small,
    failedRuns: small,
    usersDue: small,
    dispatched: small,
    deferred: small,
    errors: small,
    runsWithMore: small,
  }),
  outbox: fc.record({ processed: small, deadLettered: small, claims: small }),
});

describe("metrics bucket keys", () => {
  it("names the UTC hour and day, and reads them back", () => {
    const at = Date.parse("2026-11-30T05:42:13.000Z");
    expect(hourKey(at)).toBe("2026-11-30T05");
    expect(dayKey(at)).toBe("2026-11-30");
    expect(parseHourKey("2026-11-30T05")).toBe(Date.parse("2026-11-30T05:00:00.000Z"));
    expect(parseDayKey("2026-11-30")).toBe(Date.parse("2026-11-30T00:00:00.000Z"));
    expect(parseHourKey("2026-11-30T24")).toBeNull();
    expect(parseDayKey("2026-02-30")).toBeNull();
  });

  it("round-trips any instant's hour and day, and keys sort by time", () => {
    fc.assert(
      fc.property(instant, instant, (left, right) => {
        expect(parseHourKey(hourKey(left))).toBe(Math.floor(left / HOUR_MS) * HOUR_MS);
        expect(parseDayKey(dayKey(left))).toBe(Math.floor(left / DAY_MS) * DAY_MS);
        if (left <= right) expect(hourKey(left) <= hourKey(right)).toBe(true);
      }),
    );
  });
});

describe("which hours a rollup run counts", () => {
  it("counts the hour that ended over ten minutes ago, not the one that just ended", () => {
    const now = Date.parse("2026-11-30T06:05:00.000Z");
    const hours = hoursToRollUp({ now, existing: new Set(), lookbackHours: 3, maxHours: 6 });
    expect(hours.map(hourKey)).toEqual(["2026-11-30T04", "2026-11-30T03", "2026-11-30T02"]);
    const later = hoursToRollUp({
      now: now + 6 * 60_000,
      existing: new Set(),
      lookbackHours: 1,
      maxHours: 6,
    });
    expect(later.map(hourKey)).toEqual(["2026-11-30T05"]);
  });

  it("returns settled, uncounted hours of the lookback only, newest first, at most the cap", () => {
    fc.assert(
      fc.property(
        instant,
        fc.integer({ min: 1, max: 96 }),
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.nat({ max: 100 }), { maxLength: 30 }),
        (now, lookbackHours, maxHours, countedBack) => {
          const existing = new Set(countedBack.map((back) => hourKey(now - back * HOUR_MS)));
          const hours = hoursToRollUp({ now, existing, lookbackHours, maxHours });
          expect(hours.length).toBeLessThanOrEqual(maxHours);
          expect([...hours].sort((left, right) => right - left)).toEqual(hours);
          for (const start of hours) {
            expect(start % HOUR_MS).toBe(0);
            expect(start + HOUR_MS + HOUR_SETTLED_AFTER_MS).toBeLessThanOrEqual(now);
            expect(start).toBeGreaterThan(now - (lookbackHours + 2) * HOUR_MS);
            expect(existing.has(hourKey(start))).toBe(false);
          }
        },
      ),
    );
  });

  it("writes a day once its 24 hours are in, or once its missing hours left the lookback", () => {
    const dayStart = Date.parse("2026-11-29T00:00:00.000Z");
    const justAfter = dayStart + DAY_MS + HOUR_SETTLED_AFTER_MS + 1;
    expect(dayIsComplete({ dayStart, hoursPresent: 24, now: justAfter, lookbackHours: 72 })).toBe(true);
    expect(dayIsComplete({ dayStart, hoursPresent: 23, now: justAfter, lookbackHours: 72 })).toBe(false);
    expect(dayIsComplete({ dayStart, hoursPresent: 23, now: dayStart + 5 * DAY_MS, lookbackHours: 72 })).toBe(
      true,
    );
    expect(dayIsComplete({ dayStart, hoursPresent: 24, now: dayStart + DAY_MS, lookbackHours: 72 })).toBe(
      false,
    );
  });
});

describe("merging figures", () => {
  it("is commutative and associative, with the empty figures as neutral element", () => {
    fc.assert(
      fc.property(figures, figures, figures, (left, middle, right) => {
        expect(mergeFigures(left, middle)).toEqual(mergeFigures(middle, left));
        expect(mergeFigures(mergeFigures(left, middle), right)).toEqual(
          mergeFigures(left, mergeFigures(middle, right)),
        );
        expect(mergeFigures(left, emptyFigures())).toEqual(left);
        expect(sumFigures([left, middle])).toEqual(mergeFigures(left, middle));
      }),
    );
  });

  it("merges latency histograms so a day's percentile is the percentile of all its calls", () => {
    fc.assert(
      fc.property(
        fc.array(sampledCall, { maxLength: 50 }),
        fc.array(sampledCall, { maxLength: 50 }),
        (a, b) => {
          const merged = mergeFigures(
            {
              ...emptyFigures(),
              llm: { ...emptyFigures().llm, sampledMessages: 1, byModel: callsByModel(a) },
            },
            {
              ...emptyFigures(),
              llm: { ...emptyFigures().llm, sampledMessages: 1, byModel: callsByModel(b) },
            },
          );
          const whole = {
            ...emptyFigures(),
            llm: { ...emptyFigures().llm, sampledMessages: 2, byModel: callsByModel([...a, ...b]) },
          };
          expect(deriveRates(merged).llm.latencyP95Ms).toBe(deriveRates(whole).llm.latencyP95Ms);
          expect(deriveRates(merged).llm.sampledCalls).toBe(a.length + b.length);
        },
      ),
    );
  });
});

describe("LLM estimates over several hours", () => {
  /** An hour whose rollup read `sampled` of its `attempts`, each with `callsPerAttempt` calls. */
  function rolledUpHour(attempts: number, sampled: number, callsPerAttempt: number, costPerCall: number) {
    const calls = Array.from({ length: sampled * callsPerAttempt }, () => ({
      model: "m",
      ok: true,
      durationMs: 1_000,
      cost: costPerCall,
    }));
    return withLlmEstimates({
      ...emptyFigures(),
      messages: { ...emptyFigures().messages, sent: attempts },
      llm: { ...emptyFigures().llm, sampledMessages: sampled, byModel: callsByModel(calls) },
    });
  }

  it("estimates a day's calls as the sum of its hours' estimates, each scaled by its own sample", () => {
    // A busy hour sampled 240 of 40,000 attempts, and 23 quiet ones read whole with retries.
    const busy = rolledUpHour(40_000, 240, 2, 0.01);
    const quiet = Array.from({ length: 23 }, () => rolledUpHour(10, 10, 10, 0.01));
    const day = deriveRates(sumFigures([busy, ...quiet])).llm;
    expect(deriveRates(busy).llm.estimatedCalls).toBe(80_000);
    expect(day.estimatedCalls).toBe(80_000 + 23 * 100);
    expect(day.estimatedCostUsd).toBeCloseTo(800 + 23, 6);
  });

  it("is additive: a range's estimate is the sum of its hours', whatever their samples", () => {
    const hour = fc
      .record({
        attempts: fc.nat({ max: 50_000 }),
        sampledShare: fc.double({ min: 0, max: 1, noNaN: true }),
        callsPerAttempt: fc.integer({ min: 1, max: 6 }),
        costPerCall: fc.constantFrom(0, 0.001, 0.02),
      })
      .map(({ attempts, sampledShare, callsPerAttempt, costPerCall }) =>
        rolledUpHour(
          attempts,
          Math.min(240, Math.round(attempts * sampledShare)),
          callsPerAttempt,
          costPerCall,
        ),
      );
    fc.assert(
      fc.property(fc.array(hour, { maxLength: 24 }), (hours) => {
        const range = deriveRates(sumFigures(hours)).llm;
        const perHour = hours.map((figures) => deriveRates(figures).llm);
        expect(range.estimatedCalls).toBe(perHour.reduce((total, rates) => total + rates.estimatedCalls, 0));
        expect(range.estimatedCostUsd).toBeCloseTo(
          perHour.reduce((total, rates) => total + rates.estimatedCostUsd, 0),
          6,
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe("percentiles from the latency histogram", () => {
  it("bounds the true percentile by its bucket, and p50 never exceeds p95", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 200_000 }), { minLength: 1, maxLength: 300 }),
        fc.constantFrom(0.5, 0.95),
        (durations, quantile) => {
          const histogram = callsByModel(
            durations.map((durationMs) => ({ model: "m", ok: true, durationMs, cost: null })),
          ).m?.latencyHistogram;
          expect(histogram).toBeDefined();
          const estimate = histogramPercentile(histogram ?? [], quantile);
          const sorted = [...durations].sort((left, right) => left - right);
          const truth = sorted[Math.max(1, Math.ceil(quantile * sorted.length)) - 1] ?? 0;
          const bucket = latencyBucket(truth);
          const last = LATENCY_BUCKET_BOUNDS_MS.at(-1) ?? 0;
          expect(estimate).toBe(LATENCY_BUCKET_BOUNDS_MS[bucket] ?? last);
          expect(histogramPercentile(histogram ?? [], 0.5) ?? 0).toBeLessThanOrEqual(
            histogramPercentile(histogram ?? [], 0.95) ?? 0,
          );
        },
      ),
    );
  });

  it("has nothing to say about no calls", () => {
    expect(histogramPercentile([], 0.5)).toBeNull();
    expect(deriveRates(emptyFigures()).llm.latencyP50Ms).toBeNull();
  });
});

describe("derived rates", () => {
  it("reads the gate pass rate, failures, LLM errors and outbox retries off the figures", () => {
    const figures: MetricsFigures = withLlmEstimates({
      ...emptyFigures(),
      messages: { sent: 6, approved: 0, rejected: 2, failed: 2, delivered: 6 },
      llm: {
        ...emptyFigures().llm,
        sampledMessages: 5,
        byModel: callsByModel([
          { model: "m", ok: true, durationMs: 400, cost: 0.01 },
          { model: "m", ok: true, durationMs: 900, cost: 0.01 },
          { model: "m", ok: false, durationMs: 30_000, cost: null },
          { model: "m", ok: true, durationMs: 1_200, cost: 0.02 },
        ]),
      },
      outbox: { processed: 5, deadLettered: 1, claims: 9 },
    });
    const rates = deriveRates(figures);
    expect(rates.generated).toBe(8);
    expect(rates.gatedOut).toBe(2);
    expect(rates.gatePassRate).toBe(0.75);
    expect(rates.failureRate).toBe(0.2);
    expect(rates.llm.sampledCalls).toBe(4);
    // 5 of the hour's 10 attempts were sampled: twice the calls and the cost.
    expect(rates.llm.estimatedCalls).toBe(8);
    expect(rates.llm.estimatedCostUsd).toBeCloseTo(0.08);
    expect(rates.llm.errorRate).toBe(0.25);
    expect(rates.llm.latencyP50Ms).toBe(1_000);
    expect(rates.llm.latencyP95Ms).toBe(30_000);
    expect(rates.outboxRetries).toBe(3);
  });
});

describe("engagement recounts", () => {
  const now = Date.parse("2026-11-30T06:05:00.000Z");
  const today = Date.parse("2026-11-30T00:00:00.000Z");

  it("counts days never counted, newest first, at most the cap", () => {
    expect(engagementDaysToCount({ now, computedAt: new Map(), maxDays: 3 }).map(dayKey)).toEqual([
      "2026-11-30",
      "2026-11-29",
      "2026-11-28",
    ]);
  });

  it("recounts today and yesterday hourly, older days twice a day, and a final count never", () => {
    const computedAt = new Map<string, number>();
    for (let back = 0; back <= 14; back += 1)
      computedAt.set(dayKey(today - back * DAY_MS), now - 2 * HOUR_MS);
    computedAt.set(dayKey(today - 3 * DAY_MS), now - 13 * HOUR_MS);
    computedAt.set(dayKey(today - 10 * DAY_MS), now - 13 * HOUR_MS);
    expect(engagementDaysToCount({ now, computedAt, maxDays: 5 }).map(dayKey)).toEqual([
      "2026-11-30",
      "2026-11-29",
      "2026-11-27",
    ]);
  });

  it("never recounts a final day, whatever the clock says", () => {
    fc.assert(
      fc.property(fc.nat({ max: 14 }), fc.nat({ max: 30 * DAY_MS }), (back, after) => {
        const dayStart = today - back * DAY_MS;
        const finalAt = dayStart + 8 * DAY_MS;
        expect(engagementIsFinal({ dayStart, computedAt: finalAt })).toBe(true);
        const days = engagementDaysToCount({
          now: finalAt + after,
          computedAt: new Map([[dayKey(dayStart), finalAt]]),
          maxDays: 20,
        });
        expect(days).not.toContain(dayStart);
      }),
    );
  });

  it("sums days per rating and per type", () => {
    const tally = (sent: number, opened: number) => ({
      sent,
      delivered: sent,
      opened,
      clicked: 0,
      helpful: 0,
      rated: 0,
      pushDelivered: 0,
    });
    const merged = mergeEngagement([
      { byRating: [{ rating: 9, ...tally(4, 3) }], byType: [{ messageType: "check_in", ...tally(4, 3) }] },
      {
        byRating: [
          { rating: 6, ...tally(2, 1) },
          { rating: 9, ...tally(1, 0) },
        ],
        byType: [{ messageType: "challenge", ...tally(3, 1) }],
      },
    ]);
    expect(merged.byRating).toEqual([
      { rating: 6, ...tally(2, 1) },
      { rating: 9, ...tally(5, 3) },
    ]);
    expect(merged.byType).toEqual([
      { messageType: "check_in", ...tally(4, 3) },
      { messageType: "challenge", ...tally(3, 1) },
    ]);
  });
});
