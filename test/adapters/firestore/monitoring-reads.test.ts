import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFirestoreEventsPageStore } from "@/adapters/firestore/admin/events-page-store";
import { readLatestSchedulerRun } from "@/adapters/firestore/liveness-store";
import { loadConfig } from "@/config";
import { newEvent } from "@/core/events";
import { DEAD_LETTER_GROUP_WINDOW } from "@/pipeline/replay-dead-letter-group";
import { deadLetterGroupsOverview, replayDeadLetterGroupNow } from "@/services/dead-letter-groups";
import { type EmulatorHandle, putDocuments, startTestEmulator } from "../../support/firestore";

let handle: EmulatorHandle;
beforeAll(async () => {
  handle = await startTestEmulator();
});
afterAll(async () => {
  await handle?.stop();
});

describe("readLatestSchedulerRun", () => {
  it("reads the newest run's start, status and breaker flag, one document whatever the number of runs", async () => {
    const { db, projectId } = handle.freshProject("liveness");
    expect(await readLatestSchedulerRun(db)).toBeNull();
    await putDocuments(
      db,
      "schedulerRuns",
      [1_000, 3_000, 2_000].map((startedAt) => [
        `run-${startedAt}`,
        {
          runId: `run-${startedAt}`,
          startedAt,
          status: startedAt === 3_000 ? "failed" : "completed",
          results: { usersDue: 1, breakerOpen: startedAt === 3_000 },
          userResults: { "some-user": { result: "dispatched" } },
        },
      ]),
    );
    const readsBefore = handle.emulator.stats(projectId).billedReads;
    expect(await readLatestSchedulerRun(db)).toEqual({
      startedAt: 3_000,
      status: "failed",
      breakerOpen: true,
    });
    expect(handle.emulator.stats(projectId).billedReads - readsBefore).toBe(1);
  });

  it("reads a summary written with junk as a run of unknown status, not a crash", async () => {
    const { db } = handle.freshProject("liveness-junk");
    await putDocuments(db, "schedulerRuns", [["junk", { startedAt: 5, status: 7, results: "x" }]]);
    expect(await readLatestSchedulerRun(db)).toEqual({ startedAt: 5, status: "unknown", breakerOpen: false });
  });
});

describe("the events page's dead-letter summaries", () => {
  it("lists the newest dead letters' type, error and time, at most the limit, and counts them all", async () => {
    const { db } = handle.freshProject("dead-letter-groups");
    await putDocuments(
      db,
      "eventDeadLetters",
      [1, 2, 3].map((index) => [
        `evt-${index}`,
        {
          event_id: `evt-${index}`,
          event_type: "coaching.message.created",
          payload: { uid: `user-${index}` },
          error_message: `Resend 503 for evt_${index}`,
          retry_count: 3,
          original_created_at: index,
          created_at: index * 1_000,
        },
      ]),
    );
    const store = createFirestoreEventsPageStore(db);
    expect(await store.recentDeadLetterSummaries(2)).toEqual([
      {
        event_id: "evt-3",
        event_type: "coaching.message.created",
        error_message: "Resend 503 for evt_3",
        created_at: 3_000,
      },
      {
        event_id: "evt-2",
        event_type: "coaching.message.created",
        error_message: "Resend 503 for evt_2",
        created_at: 2_000,
      },
    ]);
    expect(await store.deadLetterCount()).toBe(3);
  });
});

describe("dead-letter groups on Firestore", () => {
  const LETTERS = DEAD_LETTER_GROUP_WINDOW + 100;
  const now = Date.now();

  async function seed() {
    const { db, projectId } = handle.freshProject("dead-letter-window");
    const config = loadConfig({
      NODE_ENV: "test",
      FIREBASE_PROJECT_ID: projectId,
      FIRESTORE_EMULATOR_HOST: handle.emulator.host,
    });
    const events = Array.from({ length: LETTERS }, (_, index) =>
      newEvent({
        id: `user.coaching.enabled_u${index}`,
        eventType: "user.coaching.enabled",
        aggregateId: `u${index}`,
        aggregateType: "user",
        payload: { uid: `u${index}` },
        createdBy: "test",
        now: now - 2 * 3_600_000,
      }),
    );
    await putDocuments(
      db,
      "events",
      events.map((event) => [event.id, { ...event, status: "dead_letter", attempts: 7 }]),
    );
    // The newest 50 failed with a 429, the rest with a 503; every error names its own event.
    await putDocuments(
      db,
      "eventDeadLetters",
      events.map((event, index) => [
        event.id,
        {
          event_id: event.id,
          event_type: event.event_type,
          payload: event.payload,
          error_message: `Resend ${index >= LETTERS - 50 ? 429 : 503} for evt_${index}`,
          retry_count: 6,
          original_created_at: event.created_at,
          created_at: now - LETTERS + index,
        },
      ]),
    );
    return { db, projectId, config };
  }

  it("groups the newest 500 letters at a bounded cost, and says how many there are in all", async () => {
    const { projectId, config } = await seed();
    const before = { ...handle.emulator.stats(projectId) };
    const overview = await deadLetterGroupsOverview(config);
    const after = handle.emulator.stats(projectId);
    expect(overview.total).toBe(LETTERS);
    expect(overview.lettersRead).toBe(DEAD_LETTER_GROUP_WINDOW);
    expect(overview.groups.map(({ errorSignature, count }) => [errorSignature, count])).toEqual([
      ["Resend 503 for <id>", DEAD_LETTER_GROUP_WINDOW - 50],
      ["Resend 429 for <id>", 50],
    ]);
    // The window's documents, and one count aggregation (billed one read per 1,000 counted).
    expect(after.billedReads - before.billedReads).toBe(DEAD_LETTER_GROUP_WINDOW);
    expect(after.aggregations - before.aggregations).toBe(1);
  });

  it("puts a confirmed group's events back in the queue as pending, from attempt 0, and refuses a stale count", async () => {
    const { db, config } = await seed();
    const group = { eventType: "user.coaching.enabled", errorSignature: "Resend 429 for <id>" };
    expect(await replayDeadLetterGroupNow(config, { group, expectedCount: 49, now })).toEqual({
      ok: false,
      reason: "count_changed",
      count: 50,
    });
    expect((await db.collection("eventDeadLetters").count().get()).data().count).toBe(LETTERS);
    const result = await replayDeadLetterGroupNow(config, { group, expectedCount: 50, now });
    expect(result.ok && result.requeued.length).toBe(50);
    for (let index = LETTERS - 50; index < LETTERS; index += 1) {
      const event = await db.doc(`events/user.coaching.enabled_u${index}`).get();
      expect(event.get("status")).toBe("pending");
      expect(event.get("attempts")).toBe(0);
      expect((await db.doc(`eventDeadLetters/user.coaching.enabled_u${index}`).get()).exists).toBe(false);
    }
    expect((await db.doc("events/user.coaching.enabled_u0").get()).get("status")).toBe("dead_letter");
    expect((await db.collection("eventDeadLetters").count().get()).data().count).toBe(LETTERS - 50);
  });
});
