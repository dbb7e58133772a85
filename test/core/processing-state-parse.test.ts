import { describe, expect, it } from "vitest";
import { deliveryCounts } from "@/core/delivery-counts";
import { emptyProcessingState, normaliseProcessingState } from "@/core/processing-state";
import { parseProcessingState } from "@/core/processing-state-parse";

const NOW = Date.parse("2026-11-30T12:00:00Z");
/** A document with every field a writer stores, each of its documented type. */
const WELL_TYPED: Record<string, unknown> = {
  status: "suspended",
  phase: "delivering",
  isProcessing: true,
  currentSlotId: "u1_123",
  lastRunPhases: ["building_context", "generating"],
  consecutiveFailures: 3,
  unfinishedRuns: 1,
  suspendUntil: NOW + 1_000,
  suspendReason: "too many failures",
  stats: {
    messagesGenerated: 2,
    lastProcessingAt: NOW,
    lastSentAt: null,
    lastEmailSentAt: NOW - 5,
    emailsSent: 1,
  },
  totalMessagesSent: 4,
  totalEmailsSent: 3,
  actionHistory: [
    { timestamp: NOW, action: "generate", details: null, messageId: "m1", success: true, metadata: { a: 1 } },
  ],
  recentErrors: [
    { timestamp: NOW, phase: "generating", messageId: null, errorMessage: "boom", errorType: "llm" },
  ],
  ownKeyStored: true,
  ownKeyChangedAt: NOW,
  ownKeyFound: false,
  ownKeyCheckedAt: NOW,
  usage_default_m202611_cost: 0.5,
  usage_user_d20261130_requests: 3,
  emailsSent_d20261130: 2,
  insights: { summary: "s", themes: ["a"], updatedAt: NOW },
  legacyInsightsRead: true,
  lastFinishedRun: "u1_123:token",
  lastAcuteRiskAt: NOW,
  lastAcuteRiskSlotId: "u1_1",
  lastAcuteRiskOutcome: "sent",
  createdAt: NOW - 10,
  updatedAt: NOW,
};

describe("parseProcessingState", () => {
  it.each([
    ["every field", WELL_TYPED],
    ["insights null", { ...WELL_TYPED, insights: null }],
    ["no insights, the legacy document read", { ...WELL_TYPED, insights: undefined }],
    [
      "nulls",
      { ...WELL_TYPED, currentSlotId: null, suspendUntil: null, lastFinishedRun: null, ownKeyStored: null },
    ],
    [
      "a merge's fields only",
      { updatedAt: NOW, totalMessagesSent: 1, consecutiveFailures: -1, unfinishedRuns: 2 },
    ],
  ])("reads a well-typed document (%s) exactly as the state's own reader makes it whole", (_, document) => {
    expect(parseProcessingState("u1", document)).toEqual(normaliseProcessingState("u1", document as never));
  });

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
