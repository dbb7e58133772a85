/**
 * The behaviour every ProcessingStateStore must show, run against Firestore (on the emulator)
 * and the in-memory twin alike, so the chaos simulation's suspension and killed-run counting
 * carry over: a run counts when it is claimed, concurrent changes never lose a count or roll a
 * field back, and a suspension is written only on a user who exists.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { deliveryCounts } from "@/core/delivery-counts";
import { recordDeliveries } from "@/core/processing-state-change";
import type { ProcessingStateStore } from "@/pipeline/processor-store-ports";

export interface ProcessingStateStoreHarness {
  /** A fresh, empty store for one test. */
  create(): Promise<ProcessingStateStore>;
  putUser(uid: string, document: Record<string, unknown>): Promise<void>;
  readUser(uid: string): Promise<Record<string, unknown> | undefined>;
}

const NOW = 1_800_000_000_000;

export function describeProcessingStateStoreContract(
  name: string,
  harness: ProcessingStateStoreHarness,
): void {
  describe(`${name} processing state store contract`, () => {
    let store: ProcessingStateStore;
    beforeEach(async () => {
      store = await harness.create();
    });

    it("has no state for a user never run, and counts a run as failed and unfinished when it is claimed", async () => {
      expect(await store.getState("u1")).toBeNull();
      await store.markRunning({
        uid: "u1",
        phase: "building_context",
        status: "running",
        currentSlotId: "u1_100",
        now: NOW,
      });
      await store.markRunning({
        uid: "u1",
        phase: "building_context",
        status: "running",
        currentSlotId: "u1_200",
        now: NOW + 1,
      });
      expect(await store.getState("u1")).toMatchObject({
        uid: "u1",
        status: "running",
        isProcessing: true,
        currentSlotId: "u1_200",
        consecutiveFailures: 2,
        unfinishedRuns: 2,
        stats: { messagesSent: 0 },
        updatedAt: NOW + 1,
      });
    });

    it("applies concurrent changes field by field: no count is lost, stats merge, fields not named stay", async () => {
      await store.markRunning({
        uid: "u1",
        phase: "generating",
        status: "running",
        currentSlotId: "s",
        now: NOW,
      });
      await Promise.all([
        store.updateState({
          uid: "u1",
          now: NOW + 1,
          change: {
            set: { status: "waiting", isProcessing: false },
            increment: { consecutiveFailures: -1, unfinishedRuns: -1, messagesSent: 1 },
            stats: { lastSentAt: NOW + 1 },
          },
        }),
        store.updateState({
          uid: "u1",
          now: NOW + 1,
          change: { increment: { unfinishedRuns: 1, errors: 2 }, stats: { lastProcessingAt: NOW + 1 } },
        }),
      ]);
      expect(await store.getState("u1")).toMatchObject({
        status: "waiting",
        isProcessing: false,
        phase: "generating",
        currentSlotId: "s",
        consecutiveFailures: 0,
        unfinishedRuns: 1,
        stats: { messagesSent: 1, errors: 2, lastSentAt: NOW + 1, lastProcessingAt: NOW + 1 },
      });
    });

    it("keeps a run's word on the user's own key, and knows nothing of keys on a state that never had one", async () => {
      await store.markRunning({
        uid: "u1",
        phase: "building_context",
        status: "running",
        currentSlotId: "u1_100",
        now: NOW,
      });
      expect(await store.getState("u1")).toMatchObject({
        ownKeyStored: null,
        ownKeyChangedAt: null,
        ownKeyFound: null,
        ownKeyCheckedAt: null,
      });
      await store.updateState({
        uid: "u1",
        now: NOW + 1,
        change: { set: { status: "waiting", ownKeyFound: false, ownKeyCheckedAt: NOW } },
      });
      await store.updateState({ uid: "u1", now: NOW + 2, change: { increment: { messagesSent: 1 } } });
      expect(await store.getState("u1")).toMatchObject({
        status: "waiting",
        ownKeyFound: false,
        ownKeyCheckedAt: NOW,
        ownKeyStored: null,
      });
    });

    it("records LLM usage: concurrent increments all count, other fields stay", async () => {
      const monthField = "usage_default_m202611_requests";
      const earlier = "usage_default_m202610_requests";
      await store.updateState({
        uid: "u1",
        now: NOW,
        change: { usage: { increment: { [earlier]: 4 }, remove: [] } },
      });
      await store.updateState({ uid: "u1", now: NOW, change: { set: { status: "running" } } });
      await Promise.all(
        [1, 2, 3].map((amount) =>
          store.updateState({
            uid: "u1",
            now: NOW + amount,
            change: {
              usage: {
                increment: { [monthField]: amount, usage_user_d20261130_cost: 0.5 },
                remove: [earlier],
              },
            },
          }),
        ),
      );
      const state = await store.getState("u1");
      // The earlier month's field is asked to go (the Firestore emulator ignores field deletes, so
      // it may stay there; nothing reads a window that is over).
      expect({ ...state?.usage, [earlier]: undefined }).toEqual({
        [monthField]: 6,
        usage_user_d20261130_cost: 1.5,
        [earlier]: undefined,
      });
      expect(state?.status).toBe("running");
    });

    it("counts deliveries: concurrent sends all count, today's figure is today's field, older days are ignored", async () => {
      const DAY = 86_400_000;
      const earlier = recordDeliveries({ email: true, push: false, now: NOW - 2 * DAY });
      if (earlier) await store.updateState({ uid: "u1", now: NOW - 2 * DAY, change: earlier });
      await Promise.all(
        [1, 2, 3].map(async (offset) => {
          const change = recordDeliveries({ email: true, push: offset === 1, now: NOW + offset });
          if (change) await store.updateState({ uid: "u1", now: NOW + offset, change });
        }),
      );
      const state = await store.getState("u1");
      if (!state) throw new Error("no state");
      expect(deliveryCounts(state, NOW)).toEqual({
        totalEmailsSent: 4,
        lastEmailSentAt: expect.any(Number),
        emailsSentToday: 3,
        totalPushesSent: 1,
        lastPushSentAt: NOW + 1,
        pushesSentToday: 1,
      });
      expect(state.stats.lastEmailSentAt).toBeGreaterThan(NOW);
      expect(deliveryCounts(state, NOW + DAY)).toMatchObject({ totalEmailsSent: 4, emailsSentToday: 0 });
    });

    it("stores the journal insights whole and reads them back; a state never given any has none", async () => {
      await store.updateState({ uid: "u1", now: NOW, change: { set: { status: "waiting" } } });
      expect((await store.getState("u1"))?.insights).toBeUndefined();
      const insights = {
        uid: "u1",
        themes: ["work"],
        goalsAndCommitments: [],
        moodTrend: "stable" as const,
        challenges: ["sleep"],
        notableChanges: [],
        latestSummary: "Busy week.",
        summary: "Themes: work.",
        analysedThrough: NOW - 1,
        batches: [{ entryIds: ["e1"], analysedAt: NOW }],
        updatedAt: NOW,
      };
      await store.updateState({ uid: "u1", now: NOW, change: { set: { insights } } });
      await store.updateState({
        uid: "u1",
        now: NOW + 1,
        change: { set: { insights: { ...insights, challenges: [], summary: "Themes: rest." } } },
      });
      expect((await store.getState("u1"))?.insights).toEqual({
        ...insights,
        challenges: [],
        summary: "Themes: rest.",
      });
      await store.updateState({ uid: "u2", now: NOW, change: { set: { insights: null } } });
      expect((await store.getState("u2"))?.insights).toBeNull();
    });

    it("writes a suspension on the user document, lifts it, and never recreates a deleted user", async () => {
      await harness.putUser("u1", { email: "u1@example.com", nextCoachingMessageDue: NOW });
      await store.setUserSuspension({ uid: "u1", suspendUntil: NOW + 1_000 });
      expect(await harness.readUser("u1")).toMatchObject({
        email: "u1@example.com",
        suspendUntil: NOW + 1_000,
      });
      await store.setUserSuspension({ uid: "u1", suspendUntil: null });
      expect(await harness.readUser("u1")).toMatchObject({ suspendUntil: null });
      await expect(store.setUserSuspension({ uid: "gone", suspendUntil: NOW })).rejects.toThrow();
      expect(await harness.readUser("gone")).toBeUndefined();
    });
  });
}
