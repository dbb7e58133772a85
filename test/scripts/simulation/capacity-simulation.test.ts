import { describe, expect, it } from "vitest";
import { parseCapacityFlags } from "../../../scripts/simulation/capacity/capacity-cli";
import { EventQueue } from "../../../scripts/simulation/capacity/event-queue";
import { seededRandom } from "../../../scripts/simulation/capacity/population";
import { type CapacityOptions, simulateCapacity } from "../../../scripts/simulation/capacity/run-capacity";

const small: CapacityOptions = {
  users: 400,
  days: 2,
  zones: "skewed",
  frequency: "mixed",
  preference: "mixed",
  seed: 3,
  functionConcurrency: 50,
  failureRate: 0.1,
};

describe("the capacity simulation", () => {
  it("reports figures that add up: shares in [0, 1], no slot served twice, sends counted once everywhere", async () => {
    const result = await simulateCapacity(small);
    const { processor, scheduler } = result;

    expect(result.servedInWindowShare).toBeGreaterThan(0);
    expect(result.servedInWindowShare).toBeLessThanOrEqual(1);
    expect(result.sentAtTargetHourShare).toBeGreaterThanOrEqual(0);
    expect(result.sentAtTargetHourShare).toBeLessThanOrEqual(1);
    expect(result.duplicateSlotServes).toBe(0);
    expect(result.dueSlotsEnded).toBe(result.servedSlots + result.missedSlots);
    expect(result.servedSlots).toBe(processor.sent);
    const byFrequency = Object.values(result.messagesPerUserPerLocalDayByFrequency);
    expect(byFrequency.reduce((sum, entry) => sum + entry.messages, 0)).toBe(processor.sent);
    expect(byFrequency.reduce((sum, entry) => sum + entry.users, 0)).toBe(small.users);
    const windowsMissed = Object.values(result.windowsMissedBeforeServed);
    expect(windowsMissed.reduce<number>((sum, count) => sum + (count ?? 0), 0)).toBe(processor.sent);

    // Every dispatch the real scheduler made reached the model; every claim ended at most once.
    expect(processor.dispatches).toBe(scheduler.totals.jobsCreated);
    expect(
      processor.claims + processor.skippedAtClaim + processor.dispatchesToRunningUser,
    ).toBeLessThanOrEqual(processor.dispatches);
    expect(processor.sent + processor.failedRuns + processor.deferredByLlmCeiling).toBeLessThanOrEqual(
      processor.claims,
    );
    expect(processor.scoringCalls).toBeLessThanOrEqual(processor.generationCalls);
    expect(processor.sent).toBeGreaterThan(0);
    expect(processor.failedRuns).toBeGreaterThan(0);
    expect(processor.peakRunning).toBeLessThanOrEqual(small.functionConcurrency);

    expect(result.jainFairnessIndex).toBeGreaterThan(0);
    expect(result.jainFairnessIndex).toBeLessThanOrEqual(1);
    expect(result.latenessAfterDueSeconds.p50).toBeLessThanOrEqual(result.latenessAfterDueSeconds.p95);
    expect(result.starvedUsers).toBeLessThanOrEqual(small.users);
    expect(result.llmCost.totalUsd).toBeGreaterThan(0);
    expect(scheduler.failedRuns).toBe(0);
    let served = 0;
    for (const count of result.servedByHour) served += count;
    expect(served).toBe(processor.sent);
  });

  it("holds LLM calls to the per-minute ceiling, the real scheduler pacing its dispatches to it", async () => {
    const result = await simulateCapacity({ ...small, llmCallsPerMinute: 20 });
    expect(result.peakLlmCallsPerMinute).toBeLessThanOrEqual(20);
    expect(result.llmCeiling.callsPerMinute).toBe(20);
    // LLM_CALLS_PER_MINUTE went through the real configuration: the scheduler paced to 10 runs a minute.
    expect(result.settings.dispatchesPerMinute).toBe(10);
    expect(result.scheduler.totals.jobsCreated).toBeGreaterThan(0);
    // Paced, the chain goes on minute after minute instead of deferring the rest to the next hour.
    expect(result.scheduler.continuations).toBeGreaterThan(0);
  });

  it("defers a run that finds the minute's ceiling spent to the next minute, without failing it", async () => {
    // Without the scheduler's pace (as with an insights refresh making runs dearer than expected).
    const result = await simulateCapacity({
      ...small,
      llmCallsPerMinute: 20,
      schedulerOverrides: { dispatchesPerMinute: null },
    });
    expect(result.processor.deferredByLlmCeiling).toBeGreaterThan(0);
    expect(result.peakLlmCallsPerMinute).toBeLessThanOrEqual(20);
  });

  it("gives the same figures for the same seed", async () => {
    const options = { ...small, users: 150 };
    const [first, second] = [await simulateCapacity(options), await simulateCapacity(options)];
    const figures = ({
      wallTimeS: _wall,
      peakRssMiB: _rss,
      ...rest
    }: Awaited<ReturnType<typeof simulateCapacity>>) => JSON.stringify(rest);
    expect(figures(first)).toBe(figures(second));
  });

  it("pops events in time order, equal times in the order they were pushed", () => {
    const queue = new EventQueue();
    const random = seededRandom(5);
    const pushed = Array.from({ length: 100_000 }, (_, user) => ({ time: Math.floor(random() * 50), user }));
    for (const { time, user } of pushed) queue.push(time, 0, user);
    const popped = Array.from({ length: pushed.length }, () => queue.pop());
    expect(queue.size).toBe(0);
    const expected = [...pushed].sort((a, b) => a.time - b.time || a.user - b.user);
    expect(popped.map(({ time, user }) => ({ time, user }))).toEqual(expected);
  });

  it("rejects a zone that is not even, skewed or an IANA zone, naming the flag", () => {
    expect(() => parseCapacityFlags(["--zones", "Mars/Olympus_Mons"])).toThrow("--zones");
    expect(parseCapacityFlags(["--users", "5", "--zones", "Asia/Kolkata", "--json"])).toMatchObject({
      users: 5,
      zones: "Asia/Kolkata",
      json: true,
    });
  });
});
