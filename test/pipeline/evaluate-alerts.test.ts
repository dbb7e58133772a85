/** Which scheduler runs end an hour's chain for the undrained-ticks alert, and after which alerts are evaluated. */
import { describe, expect, it } from "vitest";
import { chainEndOf, evaluatesAfterTick } from "@/pipeline/evaluate-alerts";
import type { ContinuationStatus, SchedulerRunRecord } from "@/pipeline/scheduler-run-record";

function run({
  continuation = "not_needed",
  duplicateOf = null,
  hasMore = false,
  status = "completed",
  chained = true,
}: {
  continuation?: ContinuationStatus;
  duplicateOf?: string | null;
  hasMore?: boolean;
  status?: SchedulerRunRecord["status"];
  chained?: boolean;
}): Pick<SchedulerRunRecord, "chain" | "status" | "results"> {
  return {
    status,
    results: { hasMore } as SchedulerRunRecord["results"],
    chain: chained
      ? {
          chainId: "cron_2026-11-30T09",
          step: 2,
          attempt: 1,
          duplicateOf,
          startedAfter: null,
          handledUpTo: null,
          continuation: { status: continuation, nextStep: null },
        }
      : null,
  };
}

describe("the end of a chain", () => {
  it.each([
    ["a drained last step", run({}), { chainId: "cron_2026-11-30T09", undrained: false }],
    [
      "a step stopped by the chain's limit",
      run({ continuation: "chain_limit", hasMore: true }),
      { chainId: "cron_2026-11-30T09", undrained: true },
    ],
    [
      "a step whose continuation failed",
      run({ continuation: "failed", hasMore: true }),
      { chainId: "cron_2026-11-30T09", undrained: true },
    ],
    [
      "a failed step",
      run({ continuation: "none", status: "failed" }),
      { chainId: "cron_2026-11-30T09", undrained: true },
    ],
    ["a step that started the next", run({ continuation: "dispatched", hasMore: true }), null],
    ["a duplicate delivery", run({ continuation: "none", duplicateOf: "run-x" }), null],
    ["a manual run", run({ chained: false, hasMore: true }), null],
  ] as const)("%s", (_case, record, expected) => {
    expect(chainEndOf(record)).toEqual(expected);
  });

  it("evaluates after a chain's last step and a manual run, not after a step that started the next or a duplicate", () => {
    expect(evaluatesAfterTick(run({}))).toBe(true);
    expect(evaluatesAfterTick(run({ chained: false }))).toBe(true);
    expect(evaluatesAfterTick(run({ continuation: "dispatched" }))).toBe(false);
    expect(evaluatesAfterTick(run({ duplicateOf: "run-x", continuation: "none" }))).toBe(false);
  });
});
