/**
 * The ceiling's gate under every interleaving fast-check's scheduler picks: each storage operation
 * of each reservation is held until the scheduler releases it, so appends, reads and removals of
 * concurrent reservations apply in arbitrary orders, some of them failing before or after they
 * apply. Whatever the order, a minute never admits more than the limit; without failures, a single
 * shard of single calls admits exactly as many as fit.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CeilingStorage, createLlmCeilingGate } from "@/adapters/llm-ceiling-gate";
import { createInMemoryCeilingStorage, type InMemoryCeilingData } from "@/adapters/memory/llm-ceiling";
import { totalCalls } from "@/core/llm-ceiling";
import type { CeilingDecision } from "@/pipeline/llm-limit-ports";

const MINUTE = Date.UTC(2026, 5, 15, 12, 30);

type Fault = "none" | "fail_before" | "applied_then_fail";

/** The storage with each operation released by the scheduler, then failing as `faultOf` says. */
function scheduledStorage(
  scheduler: fc.Scheduler,
  storage: CeilingStorage,
  faultOf: () => Fault,
): CeilingStorage {
  const step = async <Result>(label: string, apply: () => Promise<Result>): Promise<Result> => {
    await scheduler.schedule(Promise.resolve(), label);
    const fault = faultOf();
    if (fault === "fail_before") throw new Error(`${label} failed`);
    const result = await apply();
    if (fault === "applied_then_fail") throw new Error(`${label} applied, then failed`);
    return result;
  };
  return {
    append: (shard, entry) => step("append", () => storage.append(shard, entry)),
    remove: (shard, entry) => step("remove", () => storage.remove(shard, entry)),
    read: (shard) => step("read", () => storage.read(shard)),
    readMinutes: storage.readMinutes,
  };
}

/** Runs `calls` reservations (one per element) concurrently under the scheduler. */
async function reserveAll(
  scheduler: fc.Scheduler,
  storage: CeilingStorage,
  callsPerMinute: number,
  reservations: { calls: number; second: number }[],
): Promise<(CeilingDecision | "failed")[]> {
  const gate = createLlmCeilingGate(storage, { callsPerMinute });
  const decisions = Promise.all(
    reservations.map(({ calls, second }, index) =>
      gate
        .reserve({ calls, now: MINUTE + second * 1_000, seed: `run-${index}` })
        .catch(() => "failed" as const),
    ),
  );
  // Releases scheduled operations, in the scheduler's order, until every reservation has settled.
  return scheduler.waitFor(decisions);
}

const admittedCalls = (
  decisions: (CeilingDecision | "failed")[],
  reservations: { calls: number; second: number }[],
) =>
  decisions.reduce(
    (sum, decision, index) =>
      decision !== "failed" && decision.admitted ? sum + (reservations[index]?.calls ?? 0) : sum,
    0,
  );

describe("the LLM ceiling under arbitrary interleavings", () => {
  it("never admits more than the limit in a minute, whatever the order and the failures", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 160 }),
        fc.array(
          fc.record({ calls: fc.integer({ min: 1, max: 4 }), second: fc.integer({ min: 0, max: 59 }) }),
          {
            minLength: 1,
            maxLength: 120,
          },
        ),
        fc.infiniteStream(
          fc.constantFrom<Fault>("none", "none", "none", "none", "fail_before", "applied_then_fail"),
        ),
        async (scheduler, callsPerMinute, reservations, faults) => {
          const data: InMemoryCeilingData = new Map();
          const next = faults[Symbol.iterator]();
          const storage = scheduledStorage(
            scheduler,
            createInMemoryCeilingStorage(data),
            () => next.next().value,
          );
          const decisions = await reserveAll(scheduler, storage, callsPerMinute, reservations);
          const admitted = admittedCalls(decisions, reservations);
          expect(admitted).toBeLessThanOrEqual(callsPerMinute);
          // What the shards hold counts every admitted call (and, after failures, may count more).
          const stored = [...data.values()].reduce((sum, shard) => sum + totalCalls(shard.reservations), 0);
          expect(stored).toBeGreaterThanOrEqual(admitted);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("without failures, holds exactly the admitted calls, and a one-shard minute of single calls admits all that fit", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 90 }),
        async (scheduler, callsPerMinute, runs) => {
          const data: InMemoryCeilingData = new Map();
          const storage = scheduledStorage(scheduler, createInMemoryCeilingStorage(data), () => "none");
          const reservations = Array.from({ length: runs }, () => ({ calls: 1, second: 30 }));
          const decisions = await reserveAll(scheduler, storage, callsPerMinute, reservations);
          expect(decisions).not.toContain("failed");
          expect(admittedCalls(decisions, reservations)).toBe(Math.min(callsPerMinute, runs));
          const stored = [...data.values()].reduce((sum, shard) => sum + totalCalls(shard.reservations), 0);
          expect(stored).toBe(Math.min(callsPerMinute, runs));
        },
      ),
      { numRuns: 200 },
    );
  });
});
