import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decideAfterFailure,
  decideEventClaim,
  isQueueable,
  newEvent,
  parseEventDocument,
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

  const limits = { maxRetries: 5, leaseMs: 60_000 };

  it("claims a ready event with the next lease number, and skips held, backing-off and finished ones", () => {
    expect(decideEventClaim({ event, now: NOW, ...limits })).toEqual({
      kind: "claim",
      leaseNumber: 1,
      attempts: 1,
    });
    expect(
      decideEventClaim({ event: { ...event, lease_number: 2, lease_until: NOW + 1 }, now: NOW, ...limits }),
    ).toEqual({
      kind: "skip",
      reason: "busy",
    });
    expect(decideEventClaim({ event: { ...event, next_attempt_at: NOW + 1 }, now: NOW, ...limits })).toEqual({
      kind: "skip",
      reason: "not_ready",
    });
    expect(
      decideEventClaim({ event: { ...event, next_attempt_at: NOW + 1 }, now: NOW, force: true, ...limits })
        .kind,
    ).toBe("claim");
    expect(decideEventClaim({ event: { ...event, status: "processed" }, now: NOW, ...limits }).kind).toBe(
      "skip",
    );
    expect(decideEventClaim({ event: { ...event, status: "dead_letter" }, now: NOW, ...limits }).kind).toBe(
      "skip",
    );
  });

  it("counts the attempt in the claim, and gives up at claim time once a killed run has used the last one", () => {
    expect(
      decideEventClaim({ event: { ...event, attempts: 5, lease_number: 5 }, now: NOW, ...limits }),
    ).toEqual({ kind: "claim", leaseNumber: 6, attempts: 6 });
    expect(
      decideEventClaim({ event: { ...event, attempts: 6, lease_number: 6 }, now: NOW, ...limits }),
    ).toMatchObject({
      kind: "give_up",
      leaseNumber: 7,
      attempts: 6,
      reason: expect.stringContaining("did not finish"),
    });
  });

  it("does not take a lease end further than one lease away as a live claim (not written by a claim)", () => {
    fc.assert(
      fc.property(fc.integer({ min: limits.leaseMs + 1, max: 1e15 }), (ahead) => {
        expect(
          decideEventClaim({ event: { ...event, lease_until: NOW + ahead }, now: NOW, ...limits }).kind,
        ).toBe("claim");
      }),
    );
  });
});

describe("reading an event someone else wrote", () => {
  it("defaults every engine-owned field that is missing or out of range, whatever was stored", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom(
            "status",
            "attempts",
            "lease_number",
            "lease_until",
            "next_attempt_at",
            "processed",
          ),
          fc.oneof(fc.anything(), fc.double(), fc.integer({ min: -1e12, max: 1e12 })),
        ),
        (stored) => {
          const event = parseEventDocument("e1", { event_type: "t", payload: {}, ...stored });
          expect(["pending", "processed", "dead_letter"]).toContain(event.status);
          expect(event.processed).toBe(event.status === "processed");
          expect(Number.isInteger(event.attempts) && event.attempts >= 0).toBe(true);
          expect(Number.isSafeInteger(event.lease_number + 1) && event.lease_number >= 0).toBe(true);
          expect(Number.isFinite(event.lease_until) && event.lease_until >= 0).toBe(true);
          expect(Number.isFinite(event.next_attempt_at) && event.next_attempt_at >= 0).toBe(true);
        },
      ),
    );
  });

  it("treats lease_number 1e9, attempts -5 and no status as a new pending event", () => {
    expect(
      parseEventDocument("e1", { event_type: "t", payload: {}, lease_number: 1e9, attempts: -5 }),
    ).toMatchObject({
      status: "pending",
      processed: false,
      attempts: 0,
      lease_number: 1e9,
      next_attempt_at: 0,
    });
  });

  it("knows which stored events the ready query cannot see", () => {
    expect(isQueueable({ status: "pending", next_attempt_at: 5 })).toBe(true);
    expect(isQueueable({ status: "processed" })).toBe(true);
    expect(isQueueable({ event_type: "t" })).toBe(false);
    expect(isQueueable({ status: "pending" })).toBe(false);
    expect(isQueueable({ status: "pending", next_attempt_at: "soon" })).toBe(false);
  });
});
