/**
 * The behaviour every QuotaGate must show, run against the Firestore quota store (on the emulator)
 * and its in-memory twin alike, so that what the simulation proves on the twin holds on Firestore:
 * exact minute admission under concurrency, day and month counters that never admit past their
 * limits, the monthly budget, own-key and default-key pools counted apart, the usage figures, and
 * writes that were applied but reported failure (a timeout after the commit).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { type QuotaLimits, windowKeys, windowResetsAt } from "@/core/quota";
import type { QuotaGate } from "@/pipeline/processor-ports";
import { newProcess, wrapPort } from "../../scripts/simulation/chaos/faults";

export interface QuotaStoreHarness {
  /** A fresh, empty store for one test. */
  create(): Promise<QuotaGate>;
  /**
   * A gate on the same data as the last `create()` whose first `times` minute-token claims apply
   * and then report a failure (a `create()` that timed out after committing); `fired` counts them.
   */
  withAmbiguousTokenClaims(fired: { count: number }, times: number): QuotaGate;
}

// Mid-minute, mid-day, mid-month: the next minute is in the same day and month.
const NOW = Date.UTC(2026, 5, 15, 12, 30, 20);
const NEXT_MINUTE = NOW + 60_000;
const NEXT_DAY = NOW + 24 * 60 * 60_000;

function limits(fields: Partial<QuotaLimits> = {}): QuotaLimits {
  return { perMinute: 15, perDay: 1_500, perMonth: 45_000, monthlyBudgetUsd: null, ...fields };
}

/** The gate with one method applying its call and then failing, as a write that timed out after committing. */
function appliedThenFailing(gate: QuotaGate, method: keyof QuotaGate): QuotaGate {
  return wrapPort(gate, {
    name: "quota",
    process: newProcess("contract"),
    decide: (call) => (call.method === method ? "applied_then_fail" : null),
  });
}

const allowedCount = (decisions: { allowed: boolean }[]) =>
  decisions.filter((decision) => decision.allowed).length;

export function describeQuotaStoreContract(name: string, harness: QuotaStoreHarness): void {
  describe(`${name} quota store contract`, () => {
    let gate: QuotaGate;
    beforeEach(async () => {
      gate = await harness.create();
    });

    const acquireMany = (
      count: number,
      input: Omit<Parameters<QuotaGate["acquire"]>[0], "uid"> & { uid?: string },
    ) => Promise.all(Array.from({ length: count }, () => gate.acquire({ uid: "u1", ...input })));

    it("reads zero usage, under the window keys of `now`, for a user never seen", async () => {
      const keys = windowKeys(NOW);
      const usage = await gate.usage({ uid: "nobody", now: NOW, keySource: "default" });
      const zero = { requests: 0, inputTokens: 0, outputTokens: 0, cost: 0 };
      expect(usage).toEqual({
        minute: { window: "minute", key: keys.minute, ...zero },
        day: { window: "day", key: keys.day, ...zero },
        month: { window: "month", key: keys.month, ...zero },
      });
    });

    it("admits exactly the minute limit out of a concurrent burst, and refuses the rest until the next minute", async () => {
      const decisions = await acquireMany(30, { now: NOW, limits: limits(), keySource: "default" });
      expect(allowedCount(decisions)).toBe(15);
      for (const refused of decisions.filter((decision) => !decision.allowed)) {
        expect(refused).toMatchObject({ window: "minute", retryAt: windowResetsAt("minute", NOW) });
      }
      const usage = await gate.usage({ uid: "u1", now: NOW, keySource: "default" });
      expect([usage.minute.requests, usage.day.requests, usage.month.requests]).toEqual([15, 15, 15]);
    });

    it("admits again in the next minute, counting day and month across minutes", async () => {
      const tight = limits({ perMinute: 2 });
      expect(allowedCount(await acquireMany(3, { now: NOW, limits: tight, keySource: "default" }))).toBe(2);
      expect(
        await gate.acquire({ uid: "u1", now: NEXT_MINUTE, limits: tight, keySource: "default" }),
      ).toEqual({
        allowed: true,
      });
      const usage = await gate.usage({ uid: "u1", now: NEXT_MINUTE, keySource: "default" });
      expect([usage.minute.requests, usage.day.requests, usage.month.requests]).toEqual([1, 3, 3]);
    });

    it("stops at the day limit until the next day, and the refused request is not counted", async () => {
      const daily = limits({ perDay: 3 });
      for (let call = 0; call < 3; call += 1) {
        expect(await gate.acquire({ uid: "u1", now: NOW, limits: daily, keySource: "default" })).toEqual({
          allowed: true,
        });
      }
      expect(await gate.acquire({ uid: "u1", now: NOW, limits: daily, keySource: "default" })).toMatchObject({
        allowed: false,
        window: "day",
        retryAt: windowResetsAt("day", NOW),
      });
      expect((await gate.usage({ uid: "u1", now: NOW, keySource: "default" })).day.requests).toBe(3);
      expect(await gate.acquire({ uid: "u1", now: NEXT_DAY, limits: daily, keySource: "default" })).toEqual({
        allowed: true,
      });
    });

    it("stops at the month limit across days", async () => {
      const monthly = limits({ perMonth: 2 });
      expect(
        (await gate.acquire({ uid: "u1", now: NOW, limits: monthly, keySource: "default" })).allowed,
      ).toBe(true);
      expect(
        (await gate.acquire({ uid: "u1", now: NEXT_DAY, limits: monthly, keySource: "default" })).allowed,
      ).toBe(true);
      expect(
        await gate.acquire({ uid: "u1", now: NEXT_DAY + 60_000, limits: monthly, keySource: "default" }),
      ).toMatchObject({ allowed: false, window: "month", retryAt: windowResetsAt("month", NOW) });
      expect((await gate.usage({ uid: "u1", now: NEXT_DAY, keySource: "default" })).month.requests).toBe(2);
    });

    it("never lets a concurrent burst past the day limit, and counts exactly the admitted requests", async () => {
      const decisions = await acquireMany(20, {
        now: NOW,
        limits: limits({ perMinute: 100, perDay: 7 }),
        keySource: "default",
      });
      const allowed = allowedCount(decisions);
      // A lock-step burst may refuse requests that would have fitted (each saw the others'
      // increments before they were taken back); it never admits one too many.
      expect(allowed).toBeLessThanOrEqual(7);
      const usage = await gate.usage({ uid: "u1", now: NOW, keySource: "default" });
      expect([usage.day.requests, usage.month.requests]).toEqual([allowed, allowed]);
      // Every request took a minute token, admitted or refused at the day check.
      expect(usage.minute.requests).toBe(20);
      // Once the burst is over, the room it left is usable.
      const after = await gate.acquire({
        uid: "u1",
        now: NOW,
        limits: limits({ perMinute: 100, perDay: 7 }),
        keySource: "default",
      });
      expect(after.allowed).toBe(allowed < 7);
    });

    it("records tokens and cost on the day and the month, and stops at the monthly budget", async () => {
      await gate.record({
        uid: "u1",
        now: NOW,
        keySource: "default",
        inputTokens: 100,
        outputTokens: 20,
        cost: 3,
      });
      await gate.record({
        uid: "u1",
        now: NEXT_DAY,
        keySource: "default",
        inputTokens: 50,
        outputTokens: 5,
        cost: 2.01,
      });
      const usage = await gate.usage({ uid: "u1", now: NEXT_DAY, keySource: "default" });
      expect(usage.day).toMatchObject({ requests: 0, inputTokens: 50, outputTokens: 5, cost: 2.01 });
      expect(usage.month).toMatchObject({ inputTokens: 150, outputTokens: 25 });
      expect(usage.month.cost).toBeCloseTo(5.01);
      expect(usage.minute).toMatchObject({ inputTokens: 0, outputTokens: 0, cost: 0 });

      expect(
        await gate.acquire({
          uid: "u1",
          now: NEXT_DAY,
          limits: limits({ monthlyBudgetUsd: 5 }),
          keySource: "default",
        }),
      ).toMatchObject({ allowed: false, window: "budget", retryAt: windowResetsAt("month", NOW) });
      // The refusal took nothing from the request windows.
      expect((await gate.usage({ uid: "u1", now: NEXT_DAY, keySource: "default" })).minute.requests).toBe(0);
      expect(
        await gate.acquire({
          uid: "u1",
          now: NEXT_DAY,
          limits: limits({ monthlyBudgetUsd: 6 }),
          keySource: "default",
        }),
      ).toEqual({ allowed: true });
    });

    it("counts own-key and default-key calls apart: requests, tokens, cost and budget", async () => {
      const tight = limits({ perMinute: 2, monthlyBudgetUsd: 1 });
      expect(allowedCount(await acquireMany(3, { now: NOW, limits: tight, keySource: "default" }))).toBe(2);
      expect(allowedCount(await acquireMany(3, { now: NOW, limits: tight, keySource: "user" }))).toBe(2);
      await gate.record({
        uid: "u1",
        now: NOW,
        keySource: "user",
        inputTokens: 10,
        outputTokens: 1,
        cost: 1.5,
      });

      const own = await gate.usage({ uid: "u1", now: NOW, keySource: "user" });
      const fallback = await gate.usage({ uid: "u1", now: NOW, keySource: "default" });
      expect(own.minute.requests).toBe(2);
      expect(own.month).toMatchObject({ requests: 2, inputTokens: 10, cost: 1.5 });
      expect(fallback.minute.requests).toBe(2);
      expect(fallback.month).toMatchObject({ requests: 2, inputTokens: 0, cost: 0 });

      // The own key's spend is over its budget; the default key's pool is untouched by it.
      expect(
        await gate.acquire({ uid: "u1", now: NEXT_MINUTE, limits: tight, keySource: "user" }),
      ).toMatchObject({
        allowed: false,
        window: "budget",
      });
      expect(
        await gate.acquire({ uid: "u1", now: NEXT_MINUTE, limits: tight, keySource: "default" }),
      ).toEqual({
        allowed: true,
      });
      // Other users share nothing.
      expect(await gate.acquire({ uid: "u2", now: NOW, limits: tight, keySource: "default" })).toEqual({
        allowed: true,
      });
    });

    describe("applied but reported failure", () => {
      it("a minute token whose create() applied but threw is spent: the burst around it still admits no more than the limit", async () => {
        const fired = { count: 0 };
        const ambiguous = harness.withAmbiguousTokenClaims(fired, 1);
        await expect(
          ambiguous.acquire({ uid: "u1", now: NOW, limits: limits(), keySource: "default" }),
        ).rejects.toThrow();
        expect(fired.count).toBe(1);
        // The caller retries alongside a burst: token 1 stands unowned, the other 14 are admitted.
        const decisions = await acquireMany(30, { now: NOW, limits: limits(), keySource: "default" });
        expect(allowedCount(decisions)).toBe(14);
        const usage = await gate.usage({ uid: "u1", now: NOW, keySource: "default" });
        expect([usage.minute.requests, usage.day.requests]).toEqual([14, 14]);
      });

      it("claims that keep failing after applying never admit past the limit, and the retries find the minute full", async () => {
        const fired = { count: 0 };
        const ambiguous = harness.withAmbiguousTokenClaims(fired, 3);
        const tight = limits({ perMinute: 3 });
        for (let attempt = 0; attempt < 3; attempt += 1) {
          await expect(
            ambiguous.acquire({ uid: "u1", now: NOW, limits: tight, keySource: "default" }),
          ).rejects.toThrow();
        }
        expect(fired.count).toBe(3);
        expect(
          await gate.acquire({ uid: "u1", now: NOW, limits: tight, keySource: "default" }),
        ).toMatchObject({
          allowed: false,
          window: "minute",
        });
        // Nothing was admitted, so nothing was counted against the day.
        expect((await gate.usage({ uid: "u1", now: NOW, keySource: "default" })).day.requests).toBe(0);
      });

      it("an acquire that was admitted but reported failure spends its admission: the retry is the next request", async () => {
        const tight = limits({ perMinute: 1 });
        await expect(
          appliedThenFailing(gate, "acquire").acquire({
            uid: "u1",
            now: NOW,
            limits: tight,
            keySource: "default",
          }),
        ).rejects.toThrow();
        // Bound: one admission per attempt; the quota errs towards refusing, never past the limit.
        expect(
          await gate.acquire({ uid: "u1", now: NOW, limits: tight, keySource: "default" }),
        ).toMatchObject({
          allowed: false,
          window: "minute",
        });
        expect((await gate.usage({ uid: "u1", now: NOW, keySource: "default" })).day.requests).toBe(1);
      });

      it("a record() that applied but threw counts again when retried: the documented bound is once per attempt", async () => {
        const call = {
          uid: "u1",
          now: NOW,
          keySource: "default" as const,
          inputTokens: 100,
          outputTokens: 10,
          cost: 0.5,
        };
        await expect(appliedThenFailing(gate, "record").record(call)).rejects.toThrow();
        await gate.record(call);
        // Increments carry no idempotency key: the usage over-counts by the applied attempt, which
        // can only bring the budget stop earlier (never let spend past it). The pipeline does not
        // retry record() (pipeline/quota-coach.ts); a re-run of the processor is a new LLM call.
        const usage = await gate.usage({ uid: "u1", now: NOW, keySource: "default" });
        expect(usage.day).toMatchObject({ inputTokens: 200, outputTokens: 20, cost: 1 });
        expect(usage.month).toMatchObject({ inputTokens: 200, outputTokens: 20, cost: 1 });
      });
    });

    describe("per run (what the processor and the outbox use)", () => {
      const run = (calls: number, fields: Partial<QuotaLimits> = {}, now = NOW) =>
        gate.admitRun({ uid: "u1", now, limits: limits(fields), keySource: "default", calls });
      const record = (requests: number, now = NOW) =>
        gate.recordRun({
          uid: "u1",
          now,
          keySource: "default",
          requests,
          inputTokens: 100 * requests,
          outputTokens: 10 * requests,
          cost: 0.01 * requests,
        });

      it("admits a run whose calls fit every window, refuses one that does not, and writes nothing either way", async () => {
        expect(await run(3, { perMinute: 3 })).toEqual({ allowed: true });
        expect(await run(4, { perMinute: 3 })).toMatchObject({
          allowed: false,
          window: "minute",
          retryAt: windowResetsAt("minute", NOW),
        });
        expect(await run(4, { perDay: 3 })).toMatchObject({ allowed: false, window: "day" });
        expect(await run(4, { perMonth: 3 })).toMatchObject({ allowed: false, window: "month" });
        const usage = await gate.usage({ uid: "u1", now: NOW, keySource: "default" });
        expect([usage.minute.requests, usage.day.requests, usage.month.requests]).toEqual([0, 0, 0]);
      });

      it("records a run's calls, tokens and cost at once; the next run is checked against them", async () => {
        await record(3);
        const usage = await gate.usage({ uid: "u1", now: NOW, keySource: "default" });
        expect([usage.minute.requests, usage.day.requests, usage.month.requests]).toEqual([3, 3, 3]);
        expect(usage.month).toMatchObject({ inputTokens: 300, outputTokens: 30 });
        expect(usage.month.cost).toBeCloseTo(0.03);
        expect(await run(2, { perMinute: 4 })).toMatchObject({ allowed: false, window: "minute" });
        expect(await run(1, { perMinute: 4 })).toEqual({ allowed: true });
        // The minute frees; day and month keep counting.
        expect(await run(2, { perMinute: 4 }, NEXT_MINUTE)).toEqual({ allowed: true });
        expect(await run(2, { perDay: 4 }, NEXT_MINUTE)).toMatchObject({ allowed: false, window: "day" });
      });

      it("counts a minute of the day afresh on another day: yesterday's count at this minute is not today's", async () => {
        expect(await run(2)).toEqual({ allowed: true });
        await record(2);
        expect(await run(3, { perMinute: 3 }, NEXT_DAY)).toEqual({ allowed: true });
        await record(3, NEXT_DAY);
        const nextDay = await gate.usage({ uid: "u1", now: NEXT_DAY, keySource: "default" });
        expect([nextDay.minute.requests, nextDay.day.requests, nextDay.month.requests]).toEqual([3, 3, 5]);
        expect(await run(1, { perMinute: 3 }, NEXT_DAY)).toMatchObject({ allowed: false, window: "minute" });
      });

      it("stops a run at the monthly budget, from the cost recorded", async () => {
        await record(100);
        expect(await run(1, { monthlyBudgetUsd: 1 })).toMatchObject({ allowed: false, window: "budget" });
      });

      it("keeps the minute's earlier count when runs checked at once on one gate (an outbox drain's concurrent events of one user) record", async () => {
        expect(await run(3)).toEqual({ allowed: true });
        await record(3);
        expect(await Promise.all([run(1), run(1)])).toEqual([{ allowed: true }, { allowed: true }]);
        await record(1);
        await record(1);
        // Each record sets the minute's count from what its gate knows: the 3 recorded before them
        // and each other's call must not be lost (the second record once wrote 1).
        const usage = await gate.usage({ uid: "u1", now: NOW, keySource: "default" });
        expect([usage.minute.requests, usage.day.requests, usage.month.requests]).toEqual([5, 5, 5]);
        expect(await run(1, { perMinute: 5 })).toMatchObject({ allowed: false, window: "minute" });
      });

      it("reserves nothing: runs checked at once each pass against the usage recorded before them (the documented overshoot)", async () => {
        const decisions = await Promise.all([run(2, { perMinute: 3 }), run(2, { perMinute: 3 })]);
        expect(allowedCount(decisions)).toBe(2);
        await Promise.all([record(2), record(2)]);
        // Over the minute limit by the second run's calls. Day and month are increments, exact;
        // the minute's count is the value each run computed from its own check, so runs recorded
        // in one minute at once may keep only one run's calls (bounded: within that minute).
        const usage = await gate.usage({ uid: "u1", now: NOW, keySource: "default" });
        expect([usage.day.requests, usage.month.requests]).toEqual([4, 4]);
        expect(usage.minute.requests).toBeGreaterThanOrEqual(2);
        expect(usage.minute.requests).toBeLessThanOrEqual(4);
        expect(await run(2, { perMinute: 3 })).toMatchObject({ allowed: false, window: "minute" });
      });
    });
  });
}
