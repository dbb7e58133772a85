/**
 * An operator's suspend and resume change the fields they are about and nothing else of the
 * user's processing state: the LLM usage counters and the journal insights kept there survive
 * (review of 2026-11-30: a whole-state `set()` dropped them on Firestore).
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppConfig, loadConfig } from "@/config";
import { resumeUser, suspendUser } from "@/services/admin";
import { type EmulatorHandle, putDocuments, startTestEmulator } from "../support/firestore";

let handle: EmulatorHandle;
let db: Firestore;
let config: AppConfig;
const NOW = Date.UTC(2026, 10, 30, 12, 0);

beforeAll(async () => {
  handle = await startTestEmulator();
  let projectId: string;
  ({ db, projectId } = handle.freshProject("admin-suspension"));
  config = loadConfig({
    NODE_ENV: "test",
    FIREBASE_PROJECT_ID: projectId,
    FIRESTORE_EMULATOR_HOST: handle.emulator.host,
  });
});
afterAll(async () => {
  await handle.stop();
});

describe("an operator's suspend and resume", () => {
  it("keep the user's LLM usage, insights and counters on the processing state", async () => {
    const insights = {
      uid: "kept",
      summary: "Settling into a routine.",
      themes: ["work"],
      goalsAndCommitments: [],
      moodTrend: "stable",
      challenges: [],
      notableChanges: [],
      latestSummary: "Settling in.",
      analysedThrough: NOW - 1,
      batches: [],
      updatedAt: NOW - 1,
    };
    await putDocuments(db, "users", [
      [
        "kept",
        {
          email: "kept@example.com",
          timezone: "UTC",
          coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
          nextCoachingMessageDue: NOW,
        },
      ],
    ]);
    await putDocuments(db, "userProcessingState", [
      [
        "kept",
        {
          uid: "kept",
          status: "waiting",
          usage_default_m202611_requests: 12,
          usage_default_m202611_cost: 0.5,
          totalMessagesSent: 4,
          insights,
        },
      ],
    ]);
    await suspendUser(config, { uid: "kept", until: NOW + 86_400_000, reason: "asked to pause", now: NOW });
    const suspended = (await db.doc("userProcessingState/kept").get()).data();
    expect(suspended).toMatchObject({
      status: "suspended",
      suspendReason: "asked to pause",
      usage_default_m202611_requests: 12,
      usage_default_m202611_cost: 0.5,
      totalMessagesSent: 4,
      insights,
    });
    await resumeUser(config, { uid: "kept", now: NOW + 1 });
    const resumed = (await db.doc("userProcessingState/kept").get()).data();
    expect(resumed).toMatchObject({
      status: "waiting",
      suspendUntil: null,
      consecutiveFailures: 0,
      usage_default_m202611_requests: 12,
      totalMessagesSent: 4,
      insights,
    });
    // Counted once: a whole state written back would fold the top-level totals into `stats` too.
    expect(resumed?.stats?.messagesSent ?? 0).toBe(0);
  });
});
