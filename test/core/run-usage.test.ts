import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyUsageChange,
  decideRunAdmission,
  mergeUsageChanges,
  poolUsage,
  type RunAmounts,
  recordRunUsage,
  type UsagePool,
} from "@/core/run-usage";

const instant = fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 11, 31) });
const pool = fc.constantFrom<UsagePool>("default", "user");
const amounts = fc.record<RunAmounts>({
  requests: fc.integer({ min: 1, max: 20 }),
  inputTokens: fc.integer({ min: 0, max: 10_000 }),
  outputTokens: fc.integer({ min: 0, max: 10_000 }),
  cost: fc.double({ min: 0, max: 5, noNaN: true }),
});

describe("usage kept on the processing state", () => {
  it("a recorded run shows in its minute, day and month, on its pool only", () => {
    fc.assert(
      fc.property(instant, pool, amounts, (now, chosen, run) => {
        const fields = applyUsageChange({}, recordRunUsage({ seen: {}, pool: chosen, now, amounts: run }));
        const usage = poolUsage(fields, chosen, now);
        expect(usage.minute.requests).toBe(run.requests);
        expect(usage.day).toMatchObject({ requests: run.requests, inputTokens: run.inputTokens });
        expect(usage.month.cost).toBeCloseTo(run.cost);
        const other = poolUsage(fields, chosen === "user" ? "default" : "user", now);
        expect(other.month.requests).toBe(0);
      }),
    );
  });

  it("runs recorded one after another or merged into one write add up the same", () => {
    fc.assert(
      fc.property(instant, pool, amounts, amounts, (now, chosen, first, second) => {
        const one = recordRunUsage({ seen: {}, pool: chosen, now, amounts: first });
        const two = recordRunUsage({ seen: {}, pool: chosen, now, amounts: second });
        const sequential = applyUsageChange(applyUsageChange({}, one), two);
        expect(applyUsageChange({}, mergeUsageChanges(one, two))).toEqual(sequential);
      }),
    );
  });

  it("a write drops the pool's earlier windows it saw, never a current one, and a new window starts at 0", () => {
    fc.assert(
      fc.property(
        instant,
        fc.integer({ min: 1, max: 400 * 86_400_000 }),
        pool,
        amounts,
        amounts,
        (earlier, gap, chosen, first, second) => {
          const now = earlier + gap;
          const seen = applyUsageChange(
            {},
            recordRunUsage({ seen: {}, pool: chosen, now: earlier, amounts: first }),
          );
          const change = recordRunUsage({ seen, pool: chosen, now, amounts: second });
          const after = applyUsageChange(seen, change);
          expect(poolUsage(after, chosen, now).minute.requests).toBe(
            second.requests + poolUsage(seen, chosen, now).minute.requests,
          );
          for (const field of change.remove) expect(change.increment).not.toHaveProperty(field);
        },
      ),
    );
  });

  it("an amount that is not a finite positive number adds nothing", () => {
    const change = recordRunUsage({
      seen: {},
      pool: "default",
      now: Date.UTC(2026, 10, 30),
      amounts: { requests: 2, inputTokens: Number.NaN, outputTokens: -5, cost: Number.POSITIVE_INFINITY },
    });
    for (const amount of Object.values(change.increment)) expect(Number.isFinite(amount)).toBe(true);
    expect(poolUsage(applyUsageChange({}, change), "default", Date.UTC(2026, 10, 30)).month).toMatchObject({
      requests: 2,
      inputTokens: 0,
      cost: 0,
    });
  });

  it("admits a run only while every window and the budget have room for all its calls", () => {
    fc.assert(
      fc.property(
        instant,
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 1, max: 5 }),
        (now, used, calls) => {
          const fields = applyUsageChange(
            {},
            recordRunUsage({
              seen: {},
              pool: "default",
              now,
              amounts: { requests: used, inputTokens: 0, outputTokens: 0, cost: 0 },
            }),
          );
          const limits = { perMinute: 15, perDay: 1_000, perMonth: 10_000, monthlyBudgetUsd: null };
          const decision = decideRunAdmission({
            usage: poolUsage(fields, "default", now),
            limits,
            calls,
            now,
          });
          expect(decision.allowed).toBe(used + calls <= 15);
        },
      ),
    );
  });
});
