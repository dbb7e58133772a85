import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EVENTS_MAX_DURATION_SECONDS, loadConfig } from "@/config";
import { isQueueable, parseEventDocument } from "@/core/events";

const HOUR = 3_600_000;

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
