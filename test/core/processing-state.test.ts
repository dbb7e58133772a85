import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { deliveryCounts } from "@/core/delivery-counts";
import {
  emptyProcessingState,
  normaliseProcessingState,
  type ProcessingState,
} from "@/core/processing-state";
import { applyProcessingStateChange, recordDeliveries } from "@/core/processing-state-change";
import { decideSuspensionAtClaim } from "@/core/suspension";

const NOW = Date.parse("2026-11-30T12:00:00Z");
const policy = { maxConsecutiveFailures: 5, suspensionMs: 24 * 3_600_000 };

describe("normalising a stored processing state", () => {
  it("adds up counters stored before and after they moved to top-level fields", () => {
    const state = normaliseProcessingState("u1", {
      stats: { messagesSent: 3, errors: 1 },
      totalMessagesSent: 2,
      totalDuplicatesSkipped: 4,
    } as unknown as Partial<ProcessingState>);
    expect(state.stats).toMatchObject({
      messagesSent: 5,
      errors: 1,
      duplicatesSkipped: 4,
      messagesGenerated: 0,
    });
  });

  it("drops fields that are not part of the state, so writing it back whole counts nothing twice", () => {
    const state = normaliseProcessingState("u1", {
      totalMessagesSent: 2,
      somethingElse: true,
    } as unknown as Partial<ProcessingState>);
    expect(Object.keys(state).sort()).toEqual(Object.keys(emptyProcessingState("u1", 0)).sort());
    expect(normaliseProcessingState("u1", state).stats.messagesSent).toBe(2);
  });

  it("never reads a counter below zero (an undo that raced a reset)", () => {
    expect(
      normaliseProcessingState("u1", { consecutiveFailures: -1, unfinishedRuns: Number.NaN }),
    ).toMatchObject({ consecutiveFailures: 0, unfinishedRuns: 0 });
  });
});

describe("changes", () => {
  it("increments counters and sets plain fields, whatever the order of concurrent changes", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 20 }), (amounts) => {
        const forward = amounts.reduce(
          (state, amount) =>
            applyProcessingStateChange(
              state,
              { increment: { messagesSent: amount, consecutiveFailures: 1 } },
              NOW,
            ),
          emptyProcessingState("u1", NOW),
        );
        const backward = [...amounts]
          .reverse()
          .reduce(
            (state, amount) =>
              applyProcessingStateChange(
                state,
                { increment: { messagesSent: amount, consecutiveFailures: 1 } },
                NOW,
              ),
            emptyProcessingState("u1", NOW),
          );
        expect(forward.stats.messagesSent).toBe(amounts.reduce((total, amount) => total + amount, 0));
        expect(forward).toEqual(backward);
      }),
    );
  });
});

describe("suspension at a claim", () => {
  const state = (fields: Partial<ProcessingState>) => ({ ...emptyProcessingState("u1", NOW), ...fields });

  it("suspends when runs that never finished have reached the limit", () => {
    expect(
      decideSuspensionAtClaim({
        state: state({ consecutiveFailures: 5, unfinishedRuns: 5 }),
        now: NOW,
        policy,
      }),
    ).toMatchObject({ suspend: true, suspendUntil: NOW + policy.suspensionMs });
    expect(
      decideSuspensionAtClaim({
        state: state({ consecutiveFailures: 5, unfinishedRuns: 1 }),
        now: NOW,
        policy,
      }),
    ).toMatchObject({ suspend: true });
  });

  it("lets the user run below the limit, or when a finished run has already judged the streak", () => {
    expect(
      decideSuspensionAtClaim({
        state: state({ consecutiveFailures: 4, unfinishedRuns: 4 }),
        now: NOW,
        policy,
      }),
    ).toEqual({ suspend: false });
    expect(
      decideSuspensionAtClaim({
        state: state({ consecutiveFailures: 5, unfinishedRuns: 0 }),
        now: NOW,
        policy,
      }),
    ).toEqual({ suspend: false });
    expect(decideSuspensionAtClaim({ state: null, now: NOW, policy })).toEqual({ suspend: false });
  });
});

describe("counting deliveries", () => {
  it("counts a send in today's field, named by the UTC day, and drops the previous days' by name", () => {
    const change = recordDeliveries({ email: true, push: false, now: NOW });
    expect(change).toMatchObject({
      increment: { emailsSent: 1 },
      stats: { lastEmailSentAt: NOW },
      deliveriesByDay: { increment: { emailsSent_d20261130: 1 } },
    });
    expect(change?.deliveriesByDay?.remove).toContain("emailsSent_d20261129");
    expect(change?.deliveriesByDay?.remove).toContain("emailsSent_d20261030");
    expect(change?.deliveriesByDay?.remove).not.toContain("emailsSent_d20261130");
    expect(recordDeliveries({ email: false, push: false, now: NOW })).toBeNull();
  });

  it("applies to the in-memory state as Firestore stores it, and today's figure ignores older days", () => {
    let state = emptyProcessingState("u1", 0);
    for (const at of [NOW - 86_400_000, NOW, NOW + 1_000]) {
      const change = recordDeliveries({ email: true, push: at === NOW, now: at });
      if (change) state = applyProcessingStateChange(state, change, at);
    }
    expect(deliveryCounts(state, NOW)).toEqual({
      totalEmailsSent: 3,
      lastEmailSentAt: NOW + 1_000,
      emailsSentToday: 2,
      totalPushesSent: 1,
      lastPushSentAt: NOW,
      pushesSentToday: 1,
    });
    expect(Object.keys(state.deliveriesByDay).sort()).toEqual([
      "emailsSent_d20261130",
      "pushesSent_d20261130",
    ]);
  });
});
