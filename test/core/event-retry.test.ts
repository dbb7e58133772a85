import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  claimHoldUntil,
  decideAfterFailure,
  type RetryPolicy,
  retryDelayMs,
  retryWindowStart,
} from "@/core/event-retry";
import { parseEventDocument } from "@/core/events";
import { newTestEvent } from "../support/event-fixture";

const HOUR = 3_600_000;
const policy: RetryPolicy = { maxRetries: 5, baseDelayMs: 30_000, maxDelayMs: HOUR, maxAgeMs: 24 * HOUR };
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
        decideAfterFailure({
          attempts,
          retriable: true,
          now: NOW,
          retrySince: NOW,
          policy,
          random: () => 0.5,
        }).action,
      ).toBe("retry");
    }
    expect(
      decideAfterFailure({
        attempts: policy.maxRetries + 1,
        retriable: true,
        now: NOW,
        retrySince: NOW,
        policy,
        random: () => 0.5,
      }),
    ).toEqual({ action: "dead_letter", cause: "max_attempts" });
    expect(
      decideAfterFailure({
        attempts: 1,
        retriable: false,
        now: NOW,
        retrySince: NOW,
        policy,
        random: () => 0.5,
      }),
    ).toEqual({ action: "dead_letter", cause: "not_retriable" });
  });

  it("retries a retriable failure until the event is maxAgeMs old, however many attempts that takes below the cap (HIGH 1)", () => {
    const generous = { ...policy, maxRetries: 100 };
    const createdAt = NOW - 3 * HOUR;
    // A three-hour outage: attempt 12, still well inside the day.
    expect(
      decideAfterFailure({
        attempts: 12,
        retriable: true,
        now: NOW,
        retrySince: createdAt,
        policy: generous,
        random: () => 0.5,
      }),
    ).toMatchObject({ action: "retry" });
    // The backoff still grows and stays capped.
    const retry = decideAfterFailure({
      attempts: 30,
      retriable: true,
      now: NOW,
      retrySince: createdAt,
      policy: generous,
      random: () => 0.999,
    });
    expect(retry.action === "retry" && retry.nextAttemptAt - NOW).toBeLessThanOrEqual(HOUR);
    expect(
      decideAfterFailure({
        attempts: 2,
        retriable: true,
        now: createdAt + 24 * HOUR,
        retrySince: createdAt,
        policy: generous,
        random: () => 0.5,
      }),
    ).toEqual({ action: "dead_letter", cause: "max_age" });
    // No known start (an app-written event without created_at): only the attempt cap ends it.
    expect(
      decideAfterFailure({
        attempts: 40,
        retriable: true,
        now: NOW,
        retrySince: null,
        policy: generous,
        random: () => 0.5,
      }).action,
    ).toBe("retry");
  });

  it("counts the retry window from the later of creation and the last requeue", () => {
    const event = newTestEvent(NOW - 48 * HOUR);
    expect(retryWindowStart(event)).toBe(NOW - 48 * HOUR);
    expect(retryWindowStart({ ...event, requeued_at: NOW - HOUR })).toBe(NOW - HOUR);
    expect(retryWindowStart({ ...event, created_at: 0 })).toBeNull();
    expect(parseEventDocument("e1", { event_type: "t", requeued_at: "yesterday" }).requeued_at).toBeNull();
  });

  it("holds a claimed event for the lease, and for the retry delay when that is longer, so a killed run backs off too", () => {
    const hold = (attempts: number) =>
      claimHoldUntil({ now: NOW, attempts, leaseMs: 120_000, nextAttemptAt: 0, policy, random: () => 0.5 });
    expect(hold(1)).toBe(NOW + 120_000);
    expect(hold(8)).toBe(NOW + retryDelayMs({ retry: 8, policy, random: () => 0.5 }));
    expect(hold(40)).toBeLessThanOrEqual(NOW + HOUR);
    // A run forced before its retry time keeps that retry time as the floor.
    expect(
      claimHoldUntil({
        now: NOW,
        attempts: 1,
        leaseMs: 120_000,
        nextAttemptAt: NOW + 600_000,
        policy,
        random: () => 0.5,
      }),
    ).toBe(NOW + 600_000);
  });
});
