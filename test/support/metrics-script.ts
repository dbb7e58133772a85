/**
 * A scripted hour of stored data for the metrics rollup's tests (adapter and route): its figures
 * are known exactly. Around `hourStart` (a UTC hour):
 * - attempts created in the hour: 4 sent, 1 approved, 2 rejected, 1 failed; one more sent at
 *   the last millisecond of the hour before; 10 LLM calls in the hour (8 coach, 2 scorer, 1 error);
 * - engagement of the sent ones: rating 9 (4 sent: 3 opened, 1 clicked, 2 helpful, 1 push),
 *   rating 6 (1 sent, marked not helpful, a `challenge`);
 * - 5 slots completed in the hour (1 the hour before, 1 running);
 * - 3 scheduler runs (cron, continuation, a failed manual one);
 * - 3 events processed, 1 dead-lettered, 6 handler claims; 1 event pending;
 * - 4 users: 2 waiting, 1 suspended, 1 in error. By the engine's mirror of the enable flag
 *   (`coachingEnabled`): w1 enabled, s1 enabled and suspended for a week, e1 disabled (parked),
 *   and w2 enabled but never looked at since the mirror (no field, and no due time: a scheduler
 *   tick's sweep bootstraps it and writes the mirror);
 * - LLM calls per model in the hour: test/coach 8 (1 error, 30 s; the others 1.1–2.5 s, $0.007),
 *   test/scorer 2 (0.8 s and 0.9 s, $0.002).
 */
import type { Firestore } from "firebase-admin/firestore";
import { expect } from "vitest";
import { putDocuments } from "./firestore";

const MINUTE = 60_000;

type Documents = [string, Record<string, unknown>][];

function call(model: "coach" | "scorer", durationMs: number, ok = true) {
  return {
    purpose: model === "coach" ? "generation" : "outcome_simulation",
    model: `test/${model}`,
    keySource: "default",
    fallbackReason: null,
    ok,
    inputTokens: 100,
    outputTokens: 50,
    totalTokens: 150,
    cost: ok ? 0.001 : null,
    durationMs,
    error: ok ? null : "timeout",
  };
}

export async function seedMetricsScript(db: Firestore, { hourStart }: { hourStart: number }): Promise<void> {
  const at = (minutes: number) => hourStart + minutes * MINUTE;
  const sent = (
    id: string,
    createdAt: number,
    fields: Record<string, unknown>,
  ): [string, Record<string, unknown>] => [
    id,
    {
      uid: `u-${id}`,
      status: "sent",
      wasSent: true,
      createdAt,
      sentAt: createdAt,
      messageType: "check_in",
      effectivenessRating: 9,
      emailDelivered: true,
      ...fields,
    },
  ];
  const attempt = (id: string, status: string, createdAt: number, fields: Record<string, unknown>) =>
    [id, { uid: `u-${id}`, status, wasSent: false, createdAt, ...fields }] as [
      string,
      Record<string, unknown>,
    ];
  const messages: Documents = [
    sent("s0", hourStart - 1, { llmCalls: [call("coach", 1_000)] }),
    sent("s1", at(10), {
      emailOpened: true,
      emailClicked: true,
      feedbackHelpful: true,
      pushDelivered: true,
      llmCalls: [call("coach", 1_200), call("scorer", 800)],
    }),
    sent("s2", at(20), {
      emailOpened: true,
      feedbackHelpful: true,
      llmCalls: [call("coach", 1_400), call("scorer", 900)],
    }),
    sent("s3", at(30), { emailOpened: true, llmCalls: [call("coach", 1_300)] }),
    sent("c1", at(35), {
      sentAt: at(36),
      messageType: "challenge",
      effectivenessRating: 6,
      feedbackHelpful: false,
      llmCalls: [call("coach", 1_600)],
    }),
    attempt("a1", "approved", at(40), { effectivenessRating: 7, llmCalls: [call("coach", 2_500)] }),
    attempt("r1", "rejected", at(15), { effectivenessRating: 4, llmCalls: [call("coach", 1_100)] }),
    attempt("r2", "rejected", at(45), { effectivenessRating: 3, llmCalls: [call("coach", 1_450)] }),
    attempt("f1", "failed", at(50), { llmCalls: [call("coach", 30_000, false)] }),
  ];
  const slots: Documents = [
    ...[5, 15, 25, 35, 59].map((minute, index): [string, Record<string, unknown>] => [
      `slot-${index}`,
      { status: "completed", updatedAt: at(minute) },
    ]),
    ["slot-before", { status: "completed", updatedAt: hourStart - 1 }],
    ["slot-running", { status: "running", updatedAt: at(30) }],
  ];
  const run = (
    id: string,
    startedAt: number,
    fields: Record<string, unknown>,
  ): [string, Record<string, unknown>] => [
    id,
    { runId: id, startedAt, status: "completed", userResults: {}, ...fields },
  ];
  const runs: Documents = [
    run("r-cron", at(0), {
      trigger: "cron",
      results: { usersDue: 10, jobsCreated: 7, deferred: 2, errors: 1, hasMore: true },
    }),
    run("r-next", at(2), {
      trigger: "continuation",
      results: { usersDue: 2, jobsCreated: 0, deferred: 0, errors: 0, hasMore: false },
    }),
    run("r-manual", at(30), { trigger: "manual", status: "failed", results: null }),
    run("r-before", hourStart - 60 * MINUTE, {
      trigger: "cron",
      results: { usersDue: 99, jobsCreated: 99, deferred: 0, errors: 0, hasMore: false },
    }),
  ];
  const events: Documents = [
    ...[1, 12, 40].map((minute, index): [string, Record<string, unknown>] => [
      `processed-${index}`,
      { status: "processed", created_at: at(minute) - MINUTE, processed_at: at(minute), attempts: 1 },
    ]),
    ["pending-0", { status: "pending", created_at: at(50), next_attempt_at: at(50), attempts: 0 }],
    ["dead-0", { status: "dead_letter", created_at: at(20), attempts: 5 }],
  ];
  const leases: Documents = Array.from({ length: 6 }, (_, index) => [
    `lease-${index}`,
    { eventId: "x", leaseNumber: index, claimedAt: at(index * 9) },
  ]);
  const user = (
    uid: string,
    enabled: boolean,
    fields: Record<string, unknown>,
  ): [string, Record<string, unknown>] => [
    uid,
    {
      email: `${uid}@example.com`,
      timezone: "UTC",
      coachingConfig: { enableCoachingMessages: enabled, frequency: "daily", timePreference: "morning" },
      ...fields,
    },
  ];
  const later = hourStart + 7 * 24 * 60 * MINUTE;
  const users: Documents = [
    user("w1", true, { nextCoachingMessageDue: later, coachingEnabled: true }),
    user("w2", true, {}),
    user("s1", true, { nextCoachingMessageDue: later, suspendUntil: later, coachingEnabled: true }),
    user("e1", false, { nextCoachingMessageDue: later, coachingParkedUntil: later, coachingEnabled: false }),
  ];
  const states: Documents = [
    ["w1", { uid: "w1", status: "waiting" }],
    ["w2", { uid: "w2", status: "waiting" }],
    ["s1", { uid: "s1", status: "suspended" }],
    ["e1", { uid: "e1", status: "error" }],
  ];
  await Promise.all([
    putDocuments(db, "coachingMessages", messages),
    putDocuments(db, "coachingSlots", slots),
    putDocuments(db, "schedulerRuns", runs),
    putDocuments(db, "events", events),
    putDocuments(db, "eventDeadLetters", [["dead-0", { event_id: "dead-0", created_at: at(20) }]]),
    putDocuments(db, "eventLeases", leases),
    putDocuments(db, "users", users),
    putDocuments(db, "userProcessingState", states),
  ]);
}

/**
 * The script's hour per model, as `deriveRates` gives it over that one hour: every attempt is read
 * (a quiet hour), so the estimates are the counts.
 */
export function scriptedModelRates() {
  return [
    {
      model: "test/coach",
      calls: 8,
      estimatedCalls: 8,
      errors: 1,
      errorRate: 0.125,
      latencyP50Ms: 1_500,
      latencyP95Ms: 30_000,
      costUsd: expect.closeTo(0.007, 9),
      estimatedCostUsd: expect.closeTo(0.007, 9),
      costPerHourUsd: expect.closeTo(0.007, 9),
    },
    {
      model: "test/scorer",
      calls: 2,
      estimatedCalls: 2,
      errors: 0,
      errorRate: 0,
      latencyP50Ms: 1_000,
      latencyP95Ms: 1_000,
      costUsd: expect.closeTo(0.002, 9),
      estimatedCostUsd: expect.closeTo(0.002, 9),
      costPerHourUsd: expect.closeTo(0.002, 9),
    },
  ];
}
