/**
 * The chaos simulation (scripts/simulation/chaos) run briefly: a few small seeds with every kind
 * of fault must end with no invariant violated, the seeds that showed defects 1, 2 and 4 of
 * issue 11 before they were fixed must now pass, and the invariant checker must catch a
 * deliberately broken port (so a green run means something).
 */
import { describe, expect, it } from "vitest";
import type { LlmBreaker } from "@/pipeline/llm-limit-ports";
import type { ProcessorStore } from "@/pipeline/processor-store-ports";
import type { PortSabotage } from "../../../scripts/simulation/chaos/engine";
import { runChaos } from "../../../scripts/simulation/chaos/run-chaos";
import { runSeed } from "../../../scripts/simulation/chaos/run-seed";
import { chaosSettings } from "../../../scripts/simulation/chaos/world";

/**
 * A slot store that refuses every claim for one user in five, writing nothing: those users can
 * never be served. (A claim that loses its slot write is healed by design — the lease is taken
 * over once it expires — so it no longer makes a broken port.)
 */
function claimsRefusedForSomeUsers(store: ProcessorStore): ProcessorStore {
  return {
    ...store,
    async claimSlot(input) {
      const index = Number(input.slot.uid.replace(/\D/g, "")) || 0;
      if (input.purpose === "claim" && index % 5 === 0) return "taken";
      return store.claimSlot(input);
    },
  };
}

/** A breaker whose probe runs never report or release: the probe's outcome is dropped. */
function probesNeverReport(breaker: LlmBreaker): LlmBreaker {
  let probing = false;
  return {
    async acquire(now) {
      const answer = await breaker.acquire(now);
      probing = answer === "probe";
      return answer;
    },
    recordSuccess: async (now) => (probing ? undefined : breaker.recordSuccess(now)),
    recordFailure: async (now, error) => (probing ? undefined : breaker.recordFailure(now, error)),
    releaseProbe: async () => undefined,
  };
}

describe("chaos simulation", () => {
  it("keeps every invariant under every kind of fault (4 seeds, 2 days, 150 users)", async () => {
    const report = await runChaos({ seeds: [1, 2, 3, 4], days: 2, users: 150 });
    expect(report.violations).toBe(0);
    expect(report.missingFaultKinds).toEqual([]);
    for (const count of Object.values(report.faultCounts)) expect(count).toBeGreaterThan(0);
    expect(report.stats.messagesSent).toBeGreaterThan(400);
    expect(report.stats.emailsSent).toBeGreaterThan(300);
    // The breaker opened and was probed: its invariant was exercised, not vacuous.
    expect(report.stats.probes).toBeGreaterThan(0);
  });

  it.each([
    { defect: "1: the breaker stays open after a lost probe", seed: 103 },
    { defect: "2: a slot claim whose second write never happened", seed: 17 },
    { defect: "2: an event claim whose second write never happened", seed: 9 },
    // Found at 7 days and 2,000 users (npm run simulate -- --chaos --seed 1); small here.
    { defect: "4: an email for a message that is not in the journal", seed: 1 },
  ])(
    "passes the seed that found defect $defect before the fix (seed $seed, 2 days, 150 users)",
    async ({ seed }) => {
      const result = await runSeed(chaosSettings({ seed, days: 2, users: 150 }));
      expect(result.violation).toBeNull();
    },
  );

  describe("the invariants catch a broken port", () => {
    it.each([
      {
        broken: "a slot store that refuses some users' claims",
        sabotage: { processorStore: claimsRefusedForSomeUsers } satisfies PortSabotage,
        caughtBy: ["no-stuck-lease", "user-schedule-liveness"],
      },
      {
        broken: "an outbox whose stray sweep never queues anything",
        sabotage: {
          eventStore: (store) => ({ ...store, queueStrayEvents: async () => ({ examined: 0, queued: 0 }) }),
        } satisfies PortSabotage,
        caughtBy: ["outbox-liveness"],
      },
      {
        broken: "a breaker whose probes never report",
        sabotage: { breaker: probesNeverReport } satisfies PortSabotage,
        caughtBy: ["breaker-heals"],
      },
    ])("flags $broken, with a trace (seeds 8, 10, 12)", async ({ sabotage, caughtBy }) => {
      // Whether a seed's faults and timing meet the broken step varies; these three all do today.
      const violations = [];
      for (const seed of [8, 10, 12]) {
        const result = await runSeed(chaosSettings({ seed, days: 2, users: 150 }), { sabotage });
        if (result.violation) violations.push(result.violation);
      }
      expect(violations.length).toBeGreaterThan(0);
      for (const violation of violations) {
        expect(caughtBy).toContain(violation.invariant);
        expect(violation.trace.last.length).toBeGreaterThan(0);
        expect(violation.trace.related.length).toBeGreaterThan(0);
      }
    });
  });

  it("replays a seed exactly", async () => {
    const first = await runSeed(chaosSettings({ seed: 7, days: 1, users: 40 }));
    const second = await runSeed(chaosSettings({ seed: 7, days: 1, users: 40 }));
    expect(second).toEqual(first);
  });
});
