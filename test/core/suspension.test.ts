import { describe, expect, it } from "vitest";
import { emptyProcessingState, MAX_ACTION_HISTORY } from "@/core/processing-state";
import { resumedByOperator, suspendedByOperator } from "@/core/suspension";

const NOW = Date.parse("2026-11-30T12:00:00Z");

describe("an operator's suspension", () => {
  it("suspends until the given time, with the reason, logged first in the history", () => {
    const state = { ...emptyProcessingState("u1", NOW - 60_000), consecutiveFailures: 2 };
    const suspended = suspendedByOperator(state, {
      until: NOW + 3_600_000,
      reason: "abuse report",
      now: NOW,
    });
    expect(suspended).toMatchObject({
      status: "suspended",
      suspendUntil: NOW + 3_600_000,
      suspendReason: "abuse report",
      consecutiveFailures: 2,
      updatedAt: NOW,
    });
    expect(suspended.actionHistory[0]).toEqual({
      timestamp: NOW,
      action: "suspended",
      details: "abuse report",
      messageId: null,
      success: true,
      metadata: { until: NOW + 3_600_000 },
    });
  });

  it("resumes as waiting with a new failure streak, keeping the history capped", () => {
    const full = Array.from({ length: MAX_ACTION_HISTORY }, (_, index) => ({
      timestamp: NOW - index,
      action: "old",
      details: null,
      messageId: null,
      success: true,
      metadata: {},
    }));
    const state = {
      ...emptyProcessingState("u1", NOW - 60_000),
      status: "suspended" as const,
      suspendUntil: NOW + 1_000,
      suspendReason: "automatic",
      consecutiveFailures: 5,
      actionHistory: full,
    };
    const resumed = resumedByOperator(state, NOW);
    expect(resumed).toMatchObject({
      status: "waiting",
      suspendUntil: null,
      suspendReason: null,
      consecutiveFailures: 0,
      updatedAt: NOW,
    });
    expect(resumed.actionHistory).toHaveLength(MAX_ACTION_HISTORY);
    expect(resumed.actionHistory[0]).toMatchObject({ action: "resumed", timestamp: NOW, metadata: {} });
  });
});
