import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CEILING_SHARD_CAPACITY,
  callsThrough,
  ceilingMinuteKey,
  ceilingRefusal,
  ceilingRetryAt,
  ceilingShardId,
  ceilingShards,
  decodeCeilingEntries,
  encodeCeilingEntry,
  MAX_SHARDS_TRIED,
  MAX_USAGE_MINUTES,
  minuteStartOf,
  shardOrder,
  summarizeCeilingUsage,
  totalCalls,
  usageMinutes,
} from "@/core/llm-ceiling";

const limit = fc.integer({ min: 1, max: 200_000 });
// 2020-01-01 .. 2040-01-01
const instant = fc.integer({ min: 1_577_836_800_000, max: 2_208_988_800_000 });

describe("the shards of a minute", () => {
  it("have shares summing exactly to the limit", () => {
    fc.assert(
      fc.property(limit, (callsPerMinute) => {
        expect(
          totalCalls(
            ceilingShards(callsPerMinute).map(({ share }) => ({ reservationId: "x", calls: share })),
          ),
        ).toBe(callsPerMinute);
      }),
    );
  });

  it("keep every shard at or under 50 calls a minute (under one admitted write a second), none empty", () => {
    fc.assert(
      fc.property(limit, (callsPerMinute) => {
        for (const { share } of ceilingShards(callsPerMinute)) {
          expect(share).toBeLessThanOrEqual(CEILING_SHARD_CAPACITY);
          expect(share).toBeGreaterThanOrEqual(1);
        }
      }),
    );
  });

  it("are as few as that allows, indexed 0..n-1, every one but the last holding exactly 50", () => {
    fc.assert(
      fc.property(limit, (callsPerMinute) => {
        const shards = ceilingShards(callsPerMinute);
        expect(shards).toHaveLength(Math.ceil(callsPerMinute / CEILING_SHARD_CAPACITY));
        expect(shards.map(({ index }) => index)).toEqual(shards.map((_, index) => index));
        for (const { share } of shards.slice(0, -1)) expect(share).toBe(CEILING_SHARD_CAPACITY);
      }),
    );
  });

  it("admit at most the larger limit when two limits share a minute (a change of LLM_CALLS_PER_MINUTE)", () => {
    // Each shard admits at most the larger of its two shares (each instance checks its own).
    fc.assert(
      fc.property(limit, limit, (first, second) => {
        const a = ceilingShards(first);
        const b = ceilingShards(second);
        let worst = 0;
        for (let index = 0; index < Math.max(a.length, b.length); index += 1)
          worst += Math.max(a[index]?.share ?? 0, b[index]?.share ?? 0);
        expect(worst).toBe(Math.max(first, second));
      }),
    );
  });

  it.each([
    [1, [1]],
    [50, [50]],
    [51, [50, 1]],
    [120, [50, 50, 20]],
    [3_000, Array.from({ length: 60 }, () => 50)],
    [3_001, [...Array.from({ length: 60 }, () => 50), 1]],
  ])("splits %i calls a minute into %j", (callsPerMinute, shares) => {
    expect(ceilingShards(callsPerMinute).map(({ share }) => share)).toEqual(shares);
  });

  it.each([0, -5, 1.5, Number.NaN])("rejects a limit of %s", (callsPerMinute) => {
    expect(() => ceilingShards(callsPerMinute)).toThrow(RangeError);
  });
});

describe("the shards a caller tries", () => {
  const seed = fc.string({ minLength: 0, maxLength: 40 });
  const shardCount = fc.integer({ min: 1, max: 4_000 });

  it("are distinct shards of the minute, as many as allowed, the same for the same seed", () => {
    fc.assert(
      fc.property(seed, shardCount, (caller, count) => {
        const order = shardOrder(caller, count);
        expect(order).toHaveLength(Math.min(MAX_SHARDS_TRIED, count));
        expect(new Set(order).size).toBe(order.length);
        for (const index of order) {
          expect(Number.isInteger(index)).toBe(true);
          expect(index).toBeGreaterThanOrEqual(0);
          expect(index).toBeLessThan(count);
        }
        expect(shardOrder(caller, count)).toEqual(order);
      }),
    );
  });

  it("try every shard when asked for as many tries as shards", () => {
    fc.assert(
      fc.property(seed, fc.integer({ min: 1, max: 12 }), (caller, count) => {
        expect([...shardOrder(caller, count, count)].sort((a, b) => a - b)).toEqual(
          Array.from({ length: count }, (_, index) => index),
        );
      }),
    );
  });

  it.each([2, 7, 10, 60])(
    "spread user-like seeds evenly over %i shards, first and fallback shards alike",
    (count) => {
      const callers = 30_000;
      const first = new Array<number>(count).fill(0);
      const second = new Array<number>(count).fill(0);
      for (let user = 0; user < callers; user += 1) {
        const [primary, fallback] = shardOrder(`user-${user}`, count);
        first[primary ?? 0] = (first[primary ?? 0] ?? 0) + 1;
        if (fallback !== undefined) second[fallback] = (second[fallback] ?? 0) + 1;
      }
      const expected = callers / count;
      // Binomial spread: 5 standard deviations either side of the mean.
      const tolerance = 5 * Math.sqrt(expected * (1 - 1 / count));
      for (const counts of [first, second]) {
        for (const hits of counts) expect(Math.abs(hits - expected)).toBeLessThan(tolerance);
      }
    },
  );
});

describe("minutes", () => {
  it("retry at the start of the next UTC minute, after `now`, within a minute", () => {
    fc.assert(
      fc.property(instant, (now) => {
        const retryAt = ceilingRetryAt(now);
        expect(retryAt).toBeGreaterThan(now);
        expect(retryAt - now).toBeLessThanOrEqual(60_000);
        expect(retryAt % 60_000).toBe(0);
        expect(ceilingRefusal(now, "spent")).toEqual({ admitted: false, retryAt, reason: "spent" });
      }),
    );
  });

  it("name a minute by its UTC key, and a shard by its index then the key", () => {
    const now = Date.parse("2026-06-15T12:30:59.999Z");
    expect(minuteStartOf(now)).toBe(Date.parse("2026-06-15T12:30:00Z"));
    expect(ceilingMinuteKey(minuteStartOf(now))).toBe("202606151230");
    expect(ceilingShardId(minuteStartOf(now), 7)).toBe("s7_202606151230");
    expect(ceilingRetryAt(now)).toBe(Date.parse("2026-06-15T12:31:00Z"));
  });

  it("give distinct shard ids to distinct (minute, shard) pairs", () => {
    fc.assert(
      fc.property(instant, instant, fc.nat(100), fc.nat(100), (a, b, shardA, shardB) => {
        const same = minuteStartOf(a) === minuteStartOf(b) && shardA === shardB;
        expect(ceilingShardId(minuteStartOf(a), shardA) === ceilingShardId(minuteStartOf(b), shardB)).toBe(
          same,
        );
      }),
    );
  });

  it("of a usage range are every minute overlapping it, oldest first, and none for an empty range", () => {
    const from = Date.parse("2026-06-15T12:30:20Z");
    expect(usageMinutes({ from, to: from + 120_000 })).toEqual([
      Date.parse("2026-06-15T12:30:00Z"),
      Date.parse("2026-06-15T12:31:00Z"),
      Date.parse("2026-06-15T12:32:00Z"),
    ]);
    expect(usageMinutes({ from, to: from })).toEqual([]);
    expect(usageMinutes({ from: from - 3_600_000, to: from })).toHaveLength(61);
    expect(() => usageMinutes({ from, to: from + (MAX_USAGE_MINUTES + 1) * 60_000 })).toThrow(RangeError);
  });
});

describe("entries", () => {
  const entry = fc.record({
    reservationId: fc.stringMatching(/^[0-9a-f]{1,24}$/),
    calls: fc.integer({ min: 1, max: 50 }),
  });

  it("round-trip through their stored form, skipping anything malformed", () => {
    fc.assert(
      fc.property(fc.array(entry), (entries) => {
        expect(decodeCeilingEntries(entries.map(encodeCeilingEntry))).toEqual(entries);
      }),
    );
    expect(decodeCeilingEntries(["a:1", 5, "b:0", "c:x", ":3", "d:2.5", null, "e:2"])).toEqual([
      { reservationId: "a", calls: 1 },
      { reservationId: "e", calls: 2 },
    ]);
    expect(decodeCeilingEntries(undefined)).toEqual([]);
  });

  it("admit a reservation by the calls of the entries up to and including its own", () => {
    const entries = [
      { reservationId: "a", calls: 2 },
      { reservationId: "b", calls: 3 },
      { reservationId: "c", calls: 1 },
    ];
    expect(callsThrough(entries, "a")).toBe(2);
    expect(callsThrough(entries, "b")).toBe(5);
    expect(callsThrough(entries, "c")).toBe(6);
    expect(callsThrough(entries, "z")).toBeNull();
    expect(totalCalls(entries)).toBe(6);
  });

  it("never admit more than the share, whatever the order: the admitted entries' calls fit", () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 80 }), fc.integer({ min: 1, max: 50 }), (entries, share) => {
        const unique = entries.map((candidate, index) => ({ ...candidate, reservationId: `r${index}` }));
        const admitted = unique.filter(
          ({ reservationId }) => (callsThrough(unique, reservationId) ?? Number.POSITIVE_INFINITY) <= share,
        );
        expect(totalCalls(admitted)).toBeLessThanOrEqual(share);
      }),
    );
  });
});

describe("usage", () => {
  const minute = Date.parse("2026-06-15T12:30:00Z");

  it("sums the shards of each minute, keeps every minute, and takes the limit the shards were written under", () => {
    expect(
      summarizeCeilingUsage({
        minutes: [minute, minute + 60_000, minute + 120_000],
        shards: [
          { minuteStart: minute, calls: 30, limit: 100 },
          { minuteStart: minute, calls: 40, limit: 100 },
          { minuteStart: minute + 120_000, calls: 5, limit: 100 },
          { minuteStart: minute + 180_000, calls: 9, limit: 100 },
        ],
        currentLimit: 80,
      }),
    ).toEqual([
      { minuteStart: minute, calls: 70, limit: 100 },
      { minuteStart: minute + 60_000, calls: 0, limit: 80 },
      { minuteStart: minute + 120_000, calls: 5, limit: 100 },
    ]);
  });
});
