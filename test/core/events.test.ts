import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EVENTS_MAX_DURATION_SECONDS, loadConfig } from "@/config";
import { MAX_DOCUMENT_ID_BYTES } from "@/core/document-id";
import {
  claimHoldUntil,
  decideAfterFailure,
  decideEventClaim,
  isQueueable,
  MAX_EVENT_ID_BYTES,
  newEvent,
  parseEventDocument,
  type RetryPolicy,
  retryDelayMs,
  retryWindowStart,
} from "@/core/events";

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
    const event = newEvent({
      id: "e1",
      eventType: "t",
      aggregateId: "a",
      aggregateType: "x",
      payload: {},
      createdBy: "test",
      now: NOW - 48 * HOUR,
    });
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

  it("rejects, without a lease, an event whose id would make lease ids longer than Firestore allows", () => {
    const longId = "é".repeat(MAX_EVENT_ID_BYTES / 2 + 1);
    expect(decideEventClaim({ event: { ...event, id: longId, attempts: 2 }, now: NOW, ...limits })).toEqual({
      kind: "reject",
      attempts: 2,
      reason: expect.stringContaining(`${MAX_EVENT_ID_BYTES} bytes`),
    });
    const longest = "e".repeat(MAX_EVENT_ID_BYTES);
    expect(decideEventClaim({ event: { ...event, id: longest }, now: NOW, ...limits }).kind).toBe("claim");
    // The longest accepted id and the largest lease number still make a lease id Firestore accepts.
    expect(new TextEncoder().encode(`${longest}_${Number.MAX_SAFE_INTEGER}`).length).toBeLessThanOrEqual(
      MAX_DOCUMENT_ID_BYTES,
    );
  });

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

describe("outbox configuration (operator review, LOW 11)", () => {
  const base = { NODE_ENV: "production", FIRESTORE_EMULATOR_HOST: "127.0.0.1:1" } as const;

  it("retries by age by default, and refuses an attempt cap below 1", () => {
    expect(loadConfig({ ...base }).events).toMatchObject({ maxAgeMs: 23 * HOUR, maxRetries: 50 });
    expect(() => loadConfig({ ...base, EVENT_MAX_RETRIES: "0" })).toThrow(/EVENT_MAX_RETRIES/);
  });

  it("keeps the retry window under Resend's 24 h idempotency window (review 2, item 3)", () => {
    expect(() => loadConfig({ ...base, EVENT_MAX_AGE_HOURS: "24" })).toThrow(/EVENT_MAX_AGE_HOURS/);
    expect(loadConfig({ ...base, EVENT_MAX_AGE_HOURS: "23" }).events.maxAgeMs).toBe(23 * HOUR);
  });

  it("refuses an event lease that does not outlast the drain route's maxDuration, naming the variable", () => {
    expect(() => loadConfig({ ...base, EVENT_LEASE_MS: "60000" })).toThrow(/EVENT_LEASE_MS.*maxDuration/);
  });

  it("refuses a drain budget and Resend timeout that would overrun the drain route's maxDuration", () => {
    expect(() => loadConfig({ ...base, EVENT_TIME_BUDGET_MS: "50000" })).toThrow(
      /EVENT_TIME_BUDGET_MS.*RESEND_TIMEOUT_MS.*maxDuration/,
    );
    expect(() => loadConfig({ ...base, RESEND_TIMEOUT_MS: "20000" })).toThrow(/RESEND_TIMEOUT_MS/);
  });

  it("checks against the maxDuration the drain route and vercel.json declare", () => {
    const route = readFileSync("src/app/api/events/process-batch/route.ts", "utf8");
    expect(route).toContain(`export const maxDuration = ${EVENTS_MAX_DURATION_SECONDS};`);
    const vercel = JSON.parse(readFileSync("vercel.json", "utf8")) as {
      functions: Record<string, { maxDuration: number }>;
    };
    expect(vercel.functions["src/app/api/events/process-batch/route.ts"]?.maxDuration).toBe(
      EVENTS_MAX_DURATION_SECONDS,
    );
  });
});
