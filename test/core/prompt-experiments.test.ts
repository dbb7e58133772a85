import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  assignmentPoint,
  assignVariant,
  CONTROL_VARIANT,
  compareVariants,
  experimentVariantKeys,
  meanRatingInterval,
  type PromptExperiment,
  promptExperimentSchema,
  wilsonInterval,
} from "@/core/prompt-experiments";

const experiment: PromptExperiment = {
  id: "tone-2026-12",
  variants: [
    { id: "shorter", share: 0.2, version: "v1" },
    { id: "warmer", share: 0.3, version: "v1" },
  ],
};
const NONE_STOPPED = new Set<string>();
const uids = Array.from(
  { length: 10_000 },
  (_, index) => `user-${index.toString(36)}-${(index * 7919) % 10_007}`,
);

describe("variant assignment", () => {
  it("gives a user the same variant on every call (stable across runs: no seed, no clock)", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.string({ minLength: 1, maxLength: 20 }),
        (uid, id) => {
          const first = assignVariant({ uid, experiment: { ...experiment, id }, stopped: NONE_STOPPED });
          const again = assignVariant({ uid, experiment: { ...experiment, id }, stopped: NONE_STOPPED });
          expect(again).toBe(first);
          const point = assignmentPoint({ experimentId: id, uid });
          expect(point).toBeGreaterThanOrEqual(0);
          expect(point).toBeLessThan(1);
        },
      ),
    );
  });

  it("pins the assignment of known uids, so a change of hash (a deploy) cannot move users unnoticed", () => {
    const known = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];
    expect(known.map((uid) => assignVariant({ uid, experiment, stopped: NONE_STOPPED }))).toEqual([
      "warmer",
      "control",
      "control",
      "warmer",
      "control",
      "control",
      "control",
      "shorter",
    ]);
    expect(assignmentPoint({ experimentId: "tone-2026-12", uid: "alice" })).toBe(0.2864937990061144);
  });

  it("respects the shares within tolerance over 10,000 uids", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 4 }),
        fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/),
        (percents, experimentId) => {
          fc.pre(percents.reduce((sum, percent) => sum + percent, 0) <= 100);
          const variants = percents.map((percent, index) => ({
            id: `v${index}`,
            share: percent / 100,
            version: "v1",
          }));
          const counts = new Map<string, number>();
          for (const uid of uids) {
            const variant = assignVariant({
              uid,
              experiment: { id: experimentId, variants },
              stopped: NONE_STOPPED,
            });
            counts.set(variant, (counts.get(variant) ?? 0) + 1);
          }
          const controlShare = 1 - variants.reduce((sum, variant) => sum + variant.share, 0);
          for (const { id, share } of [...variants, { id: CONTROL_VARIANT, share: controlShare }]) {
            // 4.5 standard deviations of a binomial over 10,000: a fair hash never fails this.
            const tolerance = 4.5 * Math.sqrt((share * (1 - share)) / uids.length) + 1e-9;
            expect(Math.abs((counts.get(id) ?? 0) / uids.length - share)).toBeLessThanOrEqual(tolerance);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it("assigns independently per experiment: another experiment id reshuffles the users", () => {
    const other = { ...experiment, id: "tone-2027-01" };
    const both = uids.filter(
      (uid) =>
        assignVariant({ uid, experiment, stopped: NONE_STOPPED }) === "shorter" &&
        assignVariant({ uid, experiment: other, stopped: NONE_STOPPED }) === "shorter",
    ).length;
    // Independent: about 0.2 × 0.2 of the users, not 0.2.
    expect(both / uids.length).toBeGreaterThan(0.025);
    expect(both / uids.length).toBeLessThan(0.055);
  });

  it("sends a stopped variant's users to the control and moves nobody else", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), (uid) => {
        const running = assignVariant({ uid, experiment, stopped: NONE_STOPPED });
        const withStop = assignVariant({ uid, experiment, stopped: new Set(["warmer"]) });
        expect(withStop).toBe(running === "warmer" ? CONTROL_VARIANT : running);
      }),
    );
  });
});

describe("experiment validation", () => {
  it.each([
    ["shares above 1", { id: "x", variants: [{ id: "a", share: 1.2, version: "1" }] }, /1/],
    ["shares below 0", { id: "x", variants: [{ id: "a", share: -0.1, version: "1" }] }, /0/],
    [
      "shares adding up above 1",
      {
        id: "x",
        variants: [
          { id: "a", share: 0.6, version: "1" },
          { id: "b", share: 0.5, version: "1" },
        ],
      },
      /add up to 1.1/,
    ],
    [
      "a duplicate id",
      {
        id: "x",
        variants: [
          { id: "a", share: 0.1, version: "1" },
          { id: "a", share: 0.1, version: "2" },
        ],
      },
      /"a" is used twice/,
    ],
    ["the control's id", { id: "x", variants: [{ id: "control", share: 0.1, version: "1" }] }, /control/],
  ])("rejects %s", (_name, candidate, message) => {
    const parsed = promptExperimentSchema.safeParse(candidate);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.message).join("; ")).toMatch(message);
  });

  it("accepts shares that add up to exactly 1 in decimal", () => {
    const parsed = promptExperimentSchema.safeParse({
      id: "x",
      variants: [
        { id: "a", share: 0.1, version: "1" },
        { id: "b", share: 0.2, version: "1" },
        { id: "c", share: 0.7, version: "1" },
      ],
    });
    expect(parsed.success).toBe(true);
  });
});

describe("comparison intervals", () => {
  it("computes the Wilson interval (known values)", () => {
    const interval = wilsonInterval(8, 10);
    expect(interval?.rate).toBe(0.8);
    expect(interval?.low).toBeCloseTo(0.4902, 3);
    expect(interval?.high).toBeCloseTo(0.9433, 3);
    expect(wilsonInterval(0, 0)).toBeNull();
    expect(wilsonInterval(0, 5)?.low).toBe(0);
  });

  it("keeps the Wilson interval inside [0, 1] around the rate", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (trials, part) => {
          const successes = Math.round(part * trials);
          const interval = wilsonInterval(successes, trials);
          expect(interval).not.toBeNull();
          if (!interval) return;
          expect(interval.low).toBeGreaterThanOrEqual(0);
          expect(interval.high).toBeLessThanOrEqual(1);
          expect(interval.low).toBeLessThanOrEqual(interval.rate + 1e-12);
          expect(interval.high).toBeGreaterThanOrEqual(interval.rate - 1e-12);
        },
      ),
    );
  });

  it("computes the mean rating with a normal interval from the histogram", () => {
    // Ratings 6, 7, 8 once each: mean 7, sample sd 1, half width 1.96 / sqrt(3).
    const interval = meanRatingInterval([0, 0, 0, 0, 0, 1, 1, 1, 0, 0]);
    expect(interval?.mean).toBe(7);
    expect(interval?.low).toBeCloseTo(7 - 1.96 / Math.sqrt(3), 2);
    expect(interval?.high).toBeCloseTo(7 + 1.96 / Math.sqrt(3), 2);
    expect(meanRatingInterval(Array(10).fill(0))).toBeNull();
    expect(meanRatingInterval([0, 0, 0, 0, 0, 0, 0, 1, 0, 0])).toEqual({
      count: 1,
      mean: 8,
      low: null,
      high: null,
    });
  });
});

describe("the variants compared", () => {
  it("lists the control first with the share the variants leave, and null rates where nothing was counted", () => {
    expect(experimentVariantKeys(experiment)).toEqual([
      "tone-2026-12/control",
      "tone-2026-12/shorter",
      "tone-2026-12/warmer",
    ]);
    const rows = compareVariants({
      experiment,
      stopped: new Set(["tone-2026-12/warmer"]),
      figures: {},
      engagement: [],
    });
    expect(rows.map(({ variant, share, stopped }) => ({ variant, share, stopped }))).toEqual([
      { variant: "control", share: 0.5, stopped: false },
      { variant: "shorter", share: 0.2, stopped: false },
      { variant: "warmer", share: 0.3, stopped: true },
    ]);
    for (const row of rows) {
      expect(row).toMatchObject({
        attempts: 0,
        sent: 0,
        gatePass: null,
        meanRating: null,
        opened: null,
        helpful: null,
      });
    }
  });
});

describe("intervals at their edges", () => {
  it("a rate whose successes were counted past its trials stays a rate (no NaN)", () => {
    const interval = wilsonInterval(5, 3);
    expect(interval?.rate).toBe(1);
    expect(Number.isFinite(interval?.low)).toBe(true);
    expect(interval?.high).toBeLessThanOrEqual(1);
  });

  it("a mean rating's interval stays on the 1-10 scale", () => {
    const counts = [1, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const interval = meanRatingInterval(counts);
    expect(interval?.low).toBeGreaterThanOrEqual(1);
    expect(interval?.high).toBeLessThanOrEqual(10);
  });
});
