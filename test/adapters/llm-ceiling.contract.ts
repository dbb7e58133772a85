/**
 * The behaviour every LLM ceiling must show, run against the Firestore store (on the emulator) and
 * its in-memory twin alike, so that what the simulation proves on the twin holds on Firestore:
 * exact admission under a concurrent burst, never past the limit whatever the reservations' size,
 * a fresh budget each minute, all-or-nothing reservations, no shard over its share, the usage read,
 * and storage writes that were applied but reported failure.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { LlmCeilingStore } from "@/adapters/llm-ceiling-gate";
import { ceilingShards } from "@/core/llm-ceiling";
import type { CeilingDecision } from "@/pipeline/llm-limit-ports";
import { newProcess, wrapPort } from "../../scripts/simulation/chaos/faults";

/** A storage operation of the gate: append an entry, remove it, read a shard. */
export type CeilingOperation = "append" | "remove" | "read";

/**
 * Which storage operations fail, and how: "applied_then_fail" applies the operation and then
 * reports a failure (a write that timed out after committing); "fail_before" fails without
 * applying it. `fired` counts the failures injected.
 */
export interface CeilingFaults {
  decide(operation: CeilingOperation): "applied_then_fail" | "fail_before" | null;
  fired: number;
}

export interface LlmCeilingHarness {
  /** A fresh, empty ceiling for one test. */
  create(callsPerMinute: number): Promise<LlmCeilingStore>;
  /** A ceiling on the same data as the last `create()` whose storage fails as `faults` decides. */
  withFaults(callsPerMinute: number, faults: CeilingFaults): LlmCeilingStore;
  /** The calls stored in each shard of the minute starting at `minuteStart` (by shard index). */
  shardCalls(minuteStart: number): Promise<Map<number, number>>;
}

// Mid-minute; MINUTE is its start.
const NOW = Date.UTC(2026, 5, 15, 12, 30, 20);
const MINUTE = Date.UTC(2026, 5, 15, 12, 30);
const NEXT_MINUTE = MINUTE + 60_000;

const admittedCount = (decisions: CeilingDecision[]) =>
  decisions.filter((decision) => decision.admitted).length;

/** Fails the first `times` operations `operation` with `how`. */
function failing(
  operation: CeilingOperation,
  how: "applied_then_fail" | "fail_before",
  times = 1,
): CeilingFaults {
  const faults: CeilingFaults = {
    fired: 0,
    decide(candidate) {
      if (candidate !== operation || faults.fired >= times) return null;
      faults.fired += 1;
      return how;
    },
  };
  return faults;
}

export function describeLlmCeilingContract(name: string, harness: LlmCeilingHarness): void {
  describe(`${name} LLM ceiling contract`, () => {
    let ceiling: LlmCeilingStore;
    const reserveMany = (count: number, { calls = 1, now = NOW } = {}) =>
      Promise.all(
        Array.from({ length: count }, (_, index) => ceiling.reserve({ calls, now, seed: `user-${index}` })),
      );

    describe("at 50 calls a minute (one shard)", () => {
      beforeEach(async () => {
        ceiling = await harness.create(50);
      });

      it("admits exactly the limit out of 200 concurrent single-call reservations, and refuses the rest until the next minute", async () => {
        const decisions = await reserveMany(200);
        expect(admittedCount(decisions)).toBe(50);
        for (const refused of decisions.filter((decision) => !decision.admitted)) {
          expect(refused).toMatchObject({ admitted: false, retryAt: NEXT_MINUTE });
        }
        expect(await ceiling.ceilingUsage({ from: MINUTE, to: NEXT_MINUTE })).toEqual([
          { minuteStart: MINUTE, calls: 50, limit: 50 },
        ]);
      });

      it("never admits more than the limit when each reservation takes 2 calls", async () => {
        const decisions = await reserveMany(200, { calls: 2 });
        const admitted = admittedCount(decisions);
        expect(admitted * 2).toBeLessThanOrEqual(50);
        expect(admitted).toBe(25);
        const [usage] = await ceiling.ceilingUsage({ from: MINUTE, to: NEXT_MINUTE });
        expect(usage?.calls).toBe(admitted * 2);
      });

      it("starts a fresh budget every minute", async () => {
        expect(admittedCount(await reserveMany(60))).toBe(50);
        expect(await ceiling.reserve({ calls: 1, now: NOW, seed: "late" })).toMatchObject({
          admitted: false,
          retryAt: NEXT_MINUTE,
        });
        expect(await ceiling.reserve({ calls: 1, now: NEXT_MINUTE, seed: "late" })).toEqual({
          admitted: true,
        });
        expect(
          (await ceiling.ceilingUsage({ from: MINUTE, to: NEXT_MINUTE + 60_000 })).map(({ calls }) => calls),
        ).toEqual([50, 1]);
      });

      it("admits a reservation of several calls whole or not at all", async () => {
        expect(admittedCount(await reserveMany(47))).toBe(47);
        // 3 left: 4 do not fit and take nothing; 3 then fit exactly.
        expect(await ceiling.reserve({ calls: 4, now: NOW, seed: "big" })).toMatchObject({ admitted: false });
        expect(await ceiling.reserve({ calls: 3, now: NOW, seed: "big" })).toEqual({ admitted: true });
        expect(await ceiling.reserve({ calls: 1, now: NOW, seed: "one-more" })).toMatchObject({
          admitted: false,
        });
        expect((await ceiling.ceilingUsage({ from: MINUTE, to: NEXT_MINUTE }))[0]?.calls).toBe(50);
      });

      it("refuses a reservation larger than any shard's share, and rejects one that is not a positive whole number", async () => {
        expect(await ceiling.reserve({ calls: 51, now: NOW, seed: "huge" })).toMatchObject({
          admitted: false,
          retryAt: NEXT_MINUTE,
        });
        await expect(ceiling.reserve({ calls: 0, now: NOW, seed: "none" })).rejects.toThrow(RangeError);
        await expect(ceiling.reserve({ calls: 1.5, now: NOW, seed: "half" })).rejects.toThrow(RangeError);
        expect(await ceiling.ceilingUsage({ from: MINUTE, to: NEXT_MINUTE })).toEqual([
          { minuteStart: MINUTE, calls: 0, limit: 50 },
        ]);
      });
    });

    describe("at 500 calls a minute (10 shards)", () => {
      beforeEach(async () => {
        ceiling = await harness.create(500);
      });

      it("spreads a burst over every shard, none over its share, and never past the limit", async () => {
        const decisions = await reserveMany(600);
        const admitted = admittedCount(decisions);
        expect(admitted).toBeLessThanOrEqual(500);
        const shares = ceilingShards(500);
        const stored = await harness.shardCalls(MINUTE);
        expect([...stored.keys()].sort((a, b) => a - b)).toEqual(shares.map((shard) => shard.index));
        for (const shard of shares) expect(stored.get(shard.index) ?? 0).toBeLessThanOrEqual(shard.share);
        // Each shard admits the first entries that fit; with three shards tried each, a burst of
        // 600 fills the minute (or misses by a few at the edge of a shard).
        expect(admitted).toBeGreaterThanOrEqual(480);
        expect([...stored.values()].reduce((sum, calls) => sum + calls, 0)).toBe(admitted);
      });

      it("never admits past the limit with reservations of 3 calls over several minutes", async () => {
        for (const now of [NOW, NOW + 60_000]) {
          const decisions = await Promise.all(
            Array.from({ length: 250 }, (_, index) =>
              ceiling.reserve({ calls: 3, now, seed: `run-${index}` }),
            ),
          );
          expect(admittedCount(decisions) * 3).toBeLessThanOrEqual(500);
        }
        const usage = await ceiling.ceilingUsage({ from: MINUTE, to: NEXT_MINUTE + 60_000 });
        expect(usage.map(({ limit }) => limit)).toEqual([500, 500]);
        for (const minute of usage) expect(minute.calls).toBeLessThanOrEqual(500);
      });

      it("reads the calls of each minute of a range, summed over shards, every minute present", async () => {
        await reserveMany(120, { calls: 2 });
        await ceiling.reserve({ calls: 3, now: NOW + 120_000, seed: "later" });
        // A minute outside the range is not read.
        await ceiling.reserve({ calls: 1, now: NOW + 180_000, seed: "outside" });
        expect(await ceiling.ceilingUsage({ from: NOW, to: MINUTE + 180_000 })).toEqual([
          { minuteStart: MINUTE, calls: 240, limit: 500 },
          { minuteStart: NEXT_MINUTE, calls: 0, limit: 500 },
          { minuteStart: NEXT_MINUTE + 60_000, calls: 3, limit: 500 },
        ]);
        expect(await ceiling.ceilingUsage({ from: NOW, to: NOW })).toEqual([]);
      });
    });

    describe("at 30,000 calls a minute (600 shards)", () => {
      beforeEach(async () => {
        ceiling = await harness.create(30_000);
      });

      it("reads only the latest minutes whose shards fit the usage read's document budget", async () => {
        await reserveMany(20, { calls: 2 });
        const usage = await ceiling.ceilingUsage({ from: MINUTE - 59 * 60_000, to: NEXT_MINUTE });
        // 3,600 documents at most: 6 minutes of 600 shards, the current one last.
        expect(usage.map(({ minuteStart }) => minuteStart)).toEqual(
          Array.from({ length: 6 }, (_, index) => MINUTE - (5 - index) * 60_000),
        );
        expect(usage.at(-1)).toEqual({ minuteStart: MINUTE, calls: 40, limit: 30_000 });
      });
    });

    describe("a limit changed within a minute (a deploy: old and new instances reserve at once)", () => {
      const noFaults: CeilingFaults = { fired: 0, decide: () => null };

      it.each([
        [51, 50],
        [50, 51],
        [101, 100],
        [120, 60],
      ])(
        "admits at most the larger limit when %i then %i calls a minute reserve in the same minute",
        async (before, after) => {
          ceiling = await harness.create(before);
          const old = await reserveMany(before + 20);
          const changed = harness.withFaults(after, noFaults);
          const late = await Promise.all(
            Array.from({ length: after + 20 }, (_, index) =>
              changed.reserve({ calls: 1, now: NOW, seed: `after-${index}` }),
            ),
          );
          const stored = [...(await harness.shardCalls(MINUTE)).values()].reduce(
            (sum, calls) => sum + calls,
            0,
          );
          expect(admittedCount(old) + admittedCount(late)).toBe(stored);
          expect(stored).toBeLessThanOrEqual(Math.max(before, after));
        },
      );
    });

    describe("applied but reported failure", () => {
      beforeEach(async () => {
        ceiling = await harness.create(3);
      });

      it("an append that applied but reported failure is removed again: the reservation fails and holds nothing", async () => {
        const faults = failing("append", "applied_then_fail");
        await expect(
          harness.withFaults(3, faults).reserve({ calls: 1, now: NOW, seed: "ambiguous" }),
        ).rejects.toThrow();
        expect(faults.fired).toBe(1);
        expect(admittedCount(await reserveMany(10))).toBe(3);
      });

      it("an append that applied but reported failure and whose removal failed stays counted: the minute admits fewer, never more", async () => {
        const faults: CeilingFaults = {
          fired: 0,
          decide(operation) {
            if (operation === "append" && faults.fired === 0) {
              faults.fired += 1;
              return "applied_then_fail";
            }
            if (operation === "remove" && faults.fired === 1) {
              faults.fired += 1;
              return "fail_before";
            }
            return null;
          },
        };
        await expect(
          harness.withFaults(3, faults).reserve({ calls: 1, now: NOW, seed: "ambiguous" }),
        ).rejects.toThrow();
        expect(faults.fired).toBe(2);
        expect(admittedCount(await reserveMany(10))).toBe(2);
        expect(await ceiling.reserve({ calls: 1, now: NEXT_MINUTE, seed: "next" })).toEqual({
          admitted: true,
        });
      });

      it("a read that fails after the append removes the entry: the reservation fails and holds nothing", async () => {
        const faults = failing("read", "fail_before");
        await expect(
          harness.withFaults(3, faults).reserve({ calls: 2, now: NOW, seed: "unread" }),
        ).rejects.toThrow();
        expect(faults.fired).toBe(1);
        expect(admittedCount(await reserveMany(10))).toBe(3);
      });

      it("a refused reservation whose removal fails is still refused, and only under-admits", async () => {
        expect(admittedCount(await reserveMany(2))).toBe(2);
        const faults = failing("remove", "fail_before");
        expect(
          await harness.withFaults(3, faults).reserve({ calls: 2, now: NOW, seed: "too-big" }),
        ).toMatchObject({ admitted: false, retryAt: NEXT_MINUTE });
        expect(faults.fired).toBe(1);
        // Its 2 calls stay counted for the minute: the room left (1 call) is lost, nothing more.
        expect(await ceiling.reserve({ calls: 1, now: NOW, seed: "small" })).toMatchObject({
          admitted: false,
        });
        expect(await ceiling.reserve({ calls: 1, now: NEXT_MINUTE, seed: "small" })).toEqual({
          admitted: true,
        });
      });

      it("a reservation admitted but reported failed spends its admission: the retry is a new reservation", async () => {
        const ambiguous = wrapPort(ceiling, {
          name: "ceiling",
          process: newProcess("contract"),
          decide: (call) => (call.method === "reserve" ? "applied_then_fail" : null),
        });
        await expect(ambiguous.reserve({ calls: 3, now: NOW, seed: "lost" })).rejects.toThrow();
        // Bound: one admission per attempt; the ceiling errs towards refusing, never past the limit.
        expect(await ceiling.reserve({ calls: 1, now: NOW, seed: "lost" })).toMatchObject({
          admitted: false,
        });
      });
    });
  });
}
