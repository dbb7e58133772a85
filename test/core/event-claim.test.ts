import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_DOCUMENT_ID_BYTES } from "@/core/document-id";
import { decideEventClaim, MAX_EVENT_ID_BYTES } from "@/core/event-claim";
import { newTestEvent } from "../support/event-fixture";

const NOW = Date.parse("2026-11-24T12:00:00Z");

describe("claiming an event", () => {
  const event = newTestEvent(NOW);

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
