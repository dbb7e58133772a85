import { describe, expect, it } from "vitest";
import { deliveryCounts } from "@/core/delivery-counts";
import { emptyProcessingState } from "@/core/processing-state";
import { parseProcessingState } from "@/core/processing-state-parse";

describe("parseProcessingState", () => {
  it("reads a whole stored state as written, stored counters added in", () => {
    const state = {
      ...emptyProcessingState("u1", 5),
      status: "suspended" as const,
      suspendUntil: 99,
      suspendReason: "operator",
      actionHistory: [
        { timestamp: 7, action: "claimed", details: null, messageId: null, success: true, metadata: {} },
      ],
    };
    expect(parseProcessingState("u1", { ...state, totalMessagesSent: 3 })).toEqual({
      ...state,
      stats: { ...state.stats, messagesSent: 3 },
    });
  });

  it("reads the delivery counters as the outbox stores them: totals, last times, today's field", () => {
    const now = Date.parse("2026-11-30T12:00:00Z");
    const state = parseProcessingState("u1", {
      totalEmailsSent: 4,
      totalPushesSent: 2,
      stats: { lastEmailSentAt: now - 60_000, lastPushSentAt: "yesterday" },
      emailsSent_d20261130: 2,
      emailsSent_d20261129: 2,
      pushesSent_d20261129: 2,
    });
    expect(deliveryCounts(state, now)).toEqual({
      totalEmailsSent: 4,
      lastEmailSentAt: now - 60_000,
      emailsSentToday: 2,
      totalPushesSent: 2,
      lastPushSentAt: null,
      pushesSentToday: 0,
    });
  });

  it("treats fields of another type as absent and leaves out log entries that are not entries", () => {
    const state = parseProcessingState("u1", {
      status: "sleeping",
      phase: 3,
      suspendUntil: "tomorrow",
      suspendReason: { why: "x" },
      lastRunPhases: ["generating", "flying"],
      actionHistory: [
        "claimed",
        { timestamp: 7, action: "claimed", success: "yes" },
        { timestamp: "late", action: "x" },
      ],
      recentErrors: { 0: "boom" },
      stats: { messagesSent: "two", lastSentAt: 12 },
      updatedAt: 20,
    });
    expect(state).toMatchObject({
      uid: "u1",
      status: "waiting",
      phase: "idle",
      suspendUntil: null,
      suspendReason: null,
      lastRunPhases: ["generating"],
      actionHistory: [
        { timestamp: 7, action: "claimed", details: null, messageId: null, success: false, metadata: {} },
      ],
      recentErrors: [],
      updatedAt: 20,
    });
    expect(state.stats).toMatchObject({ messagesSent: 0, lastSentAt: 12 });
  });

  it("gives the empty state for a missing or non-object document", () => {
    expect(parseProcessingState("u1", undefined)).toEqual(emptyProcessingState("u1", 0));
    expect(parseProcessingState("u1", "junk")).toEqual(emptyProcessingState("u1", 0));
  });
});
