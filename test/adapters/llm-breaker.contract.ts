/**
 * The behaviour every LlmBreaker must show, run against Firestore (on the emulator) and an
 * in-memory twin alike: a probe that is never reported (its run died, or its claim applied but
 * reported failure) is retried after `probeTimeoutMs`; a released probe can be taken at once;
 * an operator's reset closes the breaker; the status says when it opened, why, and when the
 * next probe may go out.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { BreakerSettings, BreakerState, BreakerStatus } from "@/core/circuit-breaker";
import type { LlmBreaker } from "@/pipeline/llm-limit-ports";
import { newProcess, wrapPort } from "../../scripts/simulation/chaos/faults";

export interface BreakerHarness {
  /** A fresh world with no breaker state and no probe claims, for one test. */
  reset(): Promise<void>;
  /** A new breaker instance on the shared state, as one run gets. */
  breaker(settings: BreakerSettings): LlmBreaker;
  /**
   * A breaker instance whose probe claim applies and then reports a failure (a timeout);
   * `fired.count` goes up each time the fault fires.
   */
  breakerWithAmbiguousProbeClaims(settings: BreakerSettings, fired: { count: number }): LlmBreaker;
  putBreaker(state: BreakerState): Promise<void>;
  readBreaker(): Promise<BreakerState | undefined>;
  /** How many probe claims are stored. */
  countProbeClaims(): Promise<number>;
  /** The operator's reset. */
  resetBreaker(): Promise<void>;
  status(settings: BreakerSettings, now: number): Promise<BreakerStatus>;
}

const MINUTE = 60_000;
const NOW = Date.parse("2026-11-30T12:00:00Z");
const settings: BreakerSettings = {
  failureThreshold: 3,
  cooldownMs: 10 * MINUTE,
  probeTimeoutMs: 5 * MINUTE,
};
const OPENED_AT = NOW - 20 * MINUTE;
const OPEN_UNTIL = OPENED_AT + settings.cooldownMs;
const OPEN: BreakerState = {
  state: "open",
  consecutiveFailures: 3,
  openedAt: OPENED_AT,
  openUntil: OPEN_UNTIL,
  lastFailureAt: OPENED_AT,
  lastError: "503 upstream unavailable",
};

export function describeLlmBreakerContract(name: string, harness: BreakerHarness): void {
  const breaker = () => harness.breaker(settings);

  describe(`${name} LLM breaker contract: probes`, () => {
    beforeEach(async () => {
      await harness.reset();
    });

    it("lets a new probe through once probeTimeoutMs has passed after a probe that never reported", async () => {
      await harness.putBreaker(OPEN);
      // The first probe is claimed by a run that then dies: it never reports or releases.
      expect(await breaker().acquire(OPEN_UNTIL)).toBe("probe");
      expect(await breaker().acquire(OPEN_UNTIL + 1)).toBe("open");
      expect(await breaker().acquire(OPEN_UNTIL + settings.probeTimeoutMs - 1)).toBe("open");

      expect(await breaker().acquire(OPEN_UNTIL + settings.probeTimeoutMs)).toBe("probe");
      expect(await breaker().acquire(OPEN_UNTIL + settings.probeTimeoutMs + 1)).toBe("open");
      // And again, however many probes are lost in a row.
      expect(await breaker().acquire(OPEN_UNTIL + 7 * settings.probeTimeoutMs + 123)).toBe("probe");
    });

    it("lets exactly one of many concurrent workers probe in a later probe window", async () => {
      await harness.putBreaker(OPEN);
      expect(await breaker().acquire(OPEN_UNTIL)).toBe("probe");
      const later = OPEN_UNTIL + settings.probeTimeoutMs + 10;
      const gates = await Promise.all(Array.from({ length: 8 }, () => breaker().acquire(later)));
      expect(gates.filter((gate) => gate === "probe")).toHaveLength(1);
      expect(gates.filter((gate) => gate === "open")).toHaveLength(7);
    });

    it("retries a probe whose claim applied but reported failure once probeTimeoutMs has passed", async () => {
      await harness.putBreaker(OPEN);
      const fired = { count: 0 };
      const faulty = harness.breakerWithAmbiguousProbeClaims(settings, fired);
      await expect(faulty.acquire(OPEN_UNTIL)).rejects.toThrow();
      expect(fired.count).toBe(1);
      // Its worker may release, but it never learnt that it holds the claim: nothing is freed.
      await faulty.releaseProbe(OPEN_UNTIL + 1);
      // The claim stands, though its worker never learnt it: nobody else probes in this window...
      expect(await breaker().acquire(OPEN_UNTIL + 1)).toBe("open");
      // ...and the next window is free.
      expect(await breaker().acquire(OPEN_UNTIL + settings.probeTimeoutMs)).toBe("probe");
    });

    it("lets the next acquire probe at once after the holder releases its probe", async () => {
      await harness.putBreaker(OPEN);
      const holder = breaker();
      expect(await holder.acquire(OPEN_UNTIL)).toBe("probe");
      expect(await breaker().acquire(OPEN_UNTIL + 1)).toBe("open");
      await holder.releaseProbe(OPEN_UNTIL + 2);
      const gates = await Promise.all(Array.from({ length: 4 }, () => breaker().acquire(OPEN_UNTIL + 3)));
      expect(gates.filter((gate) => gate === "probe")).toHaveLength(1);
      expect(gates.filter((gate) => gate === "open")).toHaveLength(3);
    });

    it("releases nothing for an instance that holds no probe, nor after its probe reported", async () => {
      await harness.putBreaker(OPEN);
      const holder = breaker();
      const loser = breaker();
      expect(await holder.acquire(OPEN_UNTIL)).toBe("probe");
      expect(await loser.acquire(OPEN_UNTIL + 1)).toBe("open");
      await loser.releaseProbe(OPEN_UNTIL + 2);
      expect(await breaker().acquire(OPEN_UNTIL + 3)).toBe("open");

      // The probe fails: the breaker re-opens; a release afterwards changes nothing.
      await holder.recordFailure(OPEN_UNTIL + 4, "503 again");
      const reopened = await harness.readBreaker();
      expect(reopened).toMatchObject({ state: "open", openedAt: OPEN_UNTIL + 4 });
      await holder.releaseProbe(OPEN_UNTIL + 5);
      expect(await harness.readBreaker()).toEqual(reopened);
      const nextOpenUntil = OPEN_UNTIL + 4 + settings.cooldownMs;
      expect(await breaker().acquire(nextOpenUntil - 1)).toBe("open");
      expect(await breaker().acquire(nextOpenUntil)).toBe("probe");
      expect(await breaker().acquire(nextOpenUntil)).toBe("open");
    });

    it("closes the breaker when the probe succeeds", async () => {
      await harness.putBreaker(OPEN);
      const holder = breaker();
      expect(await holder.acquire(OPEN_UNTIL)).toBe("probe");
      await holder.recordSuccess(OPEN_UNTIL + 1);
      expect(await harness.readBreaker()).toMatchObject({ state: "closed", consecutiveFailures: 0 });
      await holder.releaseProbe(OPEN_UNTIL + 2);
      expect(await breaker().acquire(OPEN_UNTIL + 3)).toBe("closed");
    });

    it("writes nothing on a closed breaker's successes and releases", async () => {
      const worker = breaker();
      expect(await worker.acquire(NOW)).toBe("closed");
      await worker.releaseProbe(NOW);
      await worker.recordSuccess(NOW);
      expect(await harness.readBreaker()).toBeUndefined();
      expect(await harness.countProbeClaims()).toBe(0);
    });
  });

  describe(`${name} LLM breaker contract: write volume`, () => {
    beforeEach(async () => {
      await harness.reset();
    });

    const counted: BreakerState = {
      state: "closed",
      consecutiveFailures: 2,
      openedAt: null,
      openUntil: null,
      lastFailureAt: NOW - 1_000,
      lastError: "503 upstream unavailable",
    };
    /** Closed with no failures, but carrying a field a reset would overwrite: shows whether a write happened. */
    const resetMarked: BreakerState = {
      state: "closed",
      consecutiveFailures: 0,
      openedAt: null,
      openUntil: null,
      lastFailureAt: null,
      lastError: "reset by another run",
    };

    it("a success writes nothing when another run reset the breaker since this run acquired it", async () => {
      await harness.putBreaker(counted);
      const late = breaker();
      expect(await late.acquire(NOW)).toBe("closed");
      await harness.putBreaker(resetMarked);
      await late.recordSuccess(NOW + 1);
      expect(await harness.readBreaker()).toEqual(resetMarked);
    });
  });

  describe(`${name} LLM breaker contract: writes applied but reported failed`, () => {
    beforeEach(async () => {
      await harness.reset();
    });

    /** The instance with `method` applying its call and then failing, as a write that timed out after committing. */
    const appliedThenFailing = (instance: LlmBreaker, method: keyof LlmBreaker) =>
      wrapPort(instance, {
        name: "breaker",
        process: newProcess("contract"),
        decide: (call) => (call.method === method ? "applied_then_fail" : null),
      });

    it("counts a failure whose write was applied but reported failed, and opens at the threshold", async () => {
      for (let failure = 1; failure <= settings.failureThreshold; failure += 1) {
        const worker = appliedThenFailing(breaker(), "recordFailure");
        expect(await worker.acquire(NOW)).toBe("closed");
        await expect(worker.recordFailure(NOW, "503")).rejects.toThrow(/applied/);
      }
      expect(await harness.readBreaker()).toMatchObject({ state: "open", openedAt: NOW });
    });

    it("closes on a probe success whose write was applied but reported failed", async () => {
      await harness.putBreaker(OPEN);
      const holder = appliedThenFailing(breaker(), "recordSuccess");
      expect(await holder.acquire(OPEN_UNTIL)).toBe("probe");
      await expect(holder.recordSuccess(OPEN_UNTIL + 1)).rejects.toThrow(/applied/);
      expect(await breaker().acquire(OPEN_UNTIL + 2)).toBe("closed");
    });
  });

  describe(`${name} LLM breaker contract: reset and status`, () => {
    beforeEach(async () => {
      await harness.reset();
    });

    it("closes an open breaker on an operator's reset, so the next acquire calls the LLM", async () => {
      await harness.putBreaker(OPEN);
      expect(await breaker().acquire(OPEN_UNTIL)).toBe("probe");
      await harness.resetBreaker();
      expect(await harness.readBreaker()).toMatchObject({
        state: "closed",
        consecutiveFailures: 0,
        openedAt: null,
        openUntil: null,
      });
      expect(await breaker().acquire(OPEN_UNTIL + 1)).toBe("closed");
      expect(await breaker().acquire(NOW - 19 * MINUTE)).toBe("closed");

      // The count starts again from 0: it takes the threshold of failures to re-open.
      for (let failure = 1; failure < settings.failureThreshold; failure += 1) {
        const worker = breaker();
        expect(await worker.acquire(NOW)).toBe("closed");
        await worker.recordFailure(NOW, "503");
      }
      expect(await harness.readBreaker()).toMatchObject({ state: "closed", consecutiveFailures: 2 });
      const last = breaker();
      await last.acquire(NOW);
      await last.recordFailure(NOW, "503");
      expect(await harness.readBreaker()).toMatchObject({ state: "open", openedAt: NOW });
    });

    it("says whether the breaker is open, since when, why, and when the next probe is allowed", async () => {
      expect(await harness.status(settings, NOW)).toMatchObject({
        state: "closed",
        gate: "closed",
        openedAt: null,
        nextProbeAt: null,
        probeInFlight: false,
      });
      await harness.putBreaker(OPEN);
      expect(await harness.status(settings, OPEN_UNTIL - MINUTE)).toEqual({
        state: "open",
        gate: "open",
        consecutiveFailures: 3,
        openedAt: OPENED_AT,
        openUntil: OPEN_UNTIL,
        lastFailureAt: OPENED_AT,
        lastError: "503 upstream unavailable",
        probeInFlight: false,
        nextProbeAt: OPEN_UNTIL,
      });
      // Cool-down over, nobody probing yet: the next run probes.
      expect(await harness.status(settings, OPEN_UNTIL + MINUTE)).toMatchObject({
        gate: "probe_due",
        nextProbeAt: OPEN_UNTIL + MINUTE,
        probeInFlight: false,
      });
      // A probe in flight: the next one is allowed when its window ends.
      const holder = breaker();
      await holder.acquire(OPEN_UNTIL + MINUTE);
      expect(await harness.status(settings, OPEN_UNTIL + 2 * MINUTE)).toMatchObject({
        gate: "probe_due",
        nextProbeAt: OPEN_UNTIL + settings.probeTimeoutMs,
        probeInFlight: true,
      });
      // Released: the next run probes at once.
      await holder.releaseProbe(OPEN_UNTIL + 3 * MINUTE);
      expect(await harness.status(settings, OPEN_UNTIL + 3 * MINUTE)).toMatchObject({
        nextProbeAt: OPEN_UNTIL + 3 * MINUTE,
        probeInFlight: false,
      });
    });
  });
}
