/**
 * Metrics documents read back (adapters/firestore/metrics-documents.ts): a document stored before
 * models carried their own estimates gets them shared out of the bucket's, adding up to it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hourlySchema } from "@/adapters/firestore/metrics-documents";

/** An hourly document as stored before models carried `estimatedCalls` and `estimatedCostUsd`. */
function olderHour(estimatedCalls: number, sampledPerModel: readonly number[]) {
  return {
    hourStart: 0,
    computedAt: 0,
    figures: {
      messages: { sent: 1, approved: 0, rejected: 0, failed: 0, delivered: 1 },
      slotsCompleted: 1,
      llm: {
        sampledMessages: 1,
        byModel: Object.fromEntries(
          sampledPerModel.map((calls, index) => [
            `m${index}`,
            { calls, errors: 0, costUsd: calls / 100, latencyHistogram: [] },
          ]),
        ),
        estimatedCalls,
        estimatedCostUsd: estimatedCalls / 100,
      },
    },
    snapshot: null,
  };
}

describe("metrics documents read back", () => {
  it("shares an older document's estimated calls out to its models so that they add up to it", () => {
    // 5 shared by 1 : 1 : 1 is 1.67 each; rounded apart 2 + 2 + 2 = 6.
    const three = hourlySchema.parse(olderHour(5, [1, 1, 1])).figures.llm.byModel;
    expect(Object.values(three).map((model) => model.estimatedCalls)).toEqual([2, 2, 1]);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 25 }),
        (estimatedCalls, sampledPerModel) => {
          const { llm } = hourlySchema.parse(olderHour(estimatedCalls, sampledPerModel)).figures;
          const sum = Object.values(llm.byModel).reduce((total, model) => total + model.estimatedCalls, 0);
          expect(sum).toBe(llm.estimatedCalls);
        },
      ),
    );
  });

  it("reads an hour's failed counts from its marker: none on a document written before the marker, unknown names dropped", () => {
    expect(hourlySchema.parse(olderHour(0, [])).countsFailed).toEqual([]);
    expect(hourlySchema.parse({ ...olderHour(0, []), countsFailed: ["usersByFlag"] }).countsFailed).toEqual([
      "usersByFlag",
    ]);
    expect(
      hourlySchema.parse({ ...olderHour(0, []), countsFailed: ["snapshot", "a later count", 3] })
        .countsFailed,
    ).toEqual(["snapshot"]);
    expect(hourlySchema.parse({ ...olderHour(0, []), countsFailed: "snapshot" }).countsFailed).toEqual([]);
  });
});
