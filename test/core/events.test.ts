import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decideAfterFailure,
  decideEventClaim,
  newEvent,
  type RetryPolicy,
  retryDelayMs,
} from "@/core/events";

const policy: RetryPolicy = { maxRetries: 5, baseDelayMs: 30_000, maxDelayMs: 3_600_000 };
const NOW = Date.parse("2026-11-24T12:00:00Z");

describe("retry backoff", () => {
  it("stays within [step / 2, step] of the exponential step, capped", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (retry, draw) => {
          const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
          const delay = retryDelayMs({ retry, policy, random: () => draw });
          expect(delay).toBeGreaterThanOrEqual(Math.floor(step / 2));
          expect(delay).toBeLessThanOrEqual(policy.maxDelayMs);
          expect(delay).toBeLessThanOrEqual(step);
        },
      ),
    );
  });

  it("never shrinks from one retry to the next below the cap, whatever the jitter", () => {
    fc.assert(
      fc.property(
        // Below the cap: 30 s · 2^6 = 32 min is the last uncapped step before 1 h.
        fc.integer({ min: 1, max: 6 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (retry, first, second) => {
          const earlier = retryDelayMs({ retry, policy, random: () => first });
          const later = retryDelayMs({ retry: retry + 1, policy, random: () => second });
          expect(later).toBeGreaterThanOrEqual(earlier - 1);
        },
      ),
    );
  });

  it("retries up to maxRetries times, then dead-letters; a non-retriable failure dead-letters at once", () => {
    for (let attempts = 1; attempts <= policy.maxRetries; attempts += 1) {
      expect(
        decideAfterFailure({ attempts, retriable: true, now: NOW, policy, random: () => 0.5 }).action,
      ).toBe("retry");
    }
    expect(
      decideAfterFailure({
        attempts: policy.maxRetries + 1,
        retriable: true,
        now: NOW,
        policy,
        random: () => 0.5,
      }),
    ).toEqual({ action: "dead_letter" });
    expect(
      decideAfterFailure({ attempts: 1, retriable: false, now: NOW, policy, random: () => 0.5 }),
    ).toEqual({
      action: "dead_letter",
    });
  });
});

describe("claiming an event", () => {
  const event = newEvent({
    id: "e1",
    eventType: "t",
    aggregateId: "a",
    aggregateType: "x",
    payload: {},
    createdBy: "test",
    now: NOW,
  });

  it("claims a ready event with the next lease number, and skips held, backing-off and finished ones", () => {
    expect(decideEventClaim({ event, now: NOW })).toEqual({ kind: "claim", leaseNumber: 1 });
    expect(
      decideEventClaim({ event: { ...event, lease_number: 2, lease_until: NOW + 1 }, now: NOW }),
    ).toEqual({
      kind: "skip",
      reason: "busy",
    });
    expect(decideEventClaim({ event: { ...event, next_attempt_at: NOW + 1 }, now: NOW })).toEqual({
      kind: "skip",
      reason: "not_ready",
    });
    expect(
      decideEventClaim({ event: { ...event, next_attempt_at: NOW + 1 }, now: NOW, force: true }).kind,
    ).toBe("claim");
    expect(decideEventClaim({ event: { ...event, status: "processed" }, now: NOW }).kind).toBe("skip");
    expect(decideEventClaim({ event: { ...event, status: "dead_letter" }, now: NOW }).kind).toBe("skip");
  });
});
