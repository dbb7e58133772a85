/**
 * The behaviour every SchedulerStore must show, run against Firestore (on the emulator) and
 * the in-memory twin alike.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { SchedulerStore } from "@/pipeline/ports";
import { userDocument } from "../support/users";

export interface StoreHarness {
  /** A fresh, empty store for one test. */
  create(): Promise<SchedulerStore>;
  putUser(uid: string, document: Record<string, unknown>): Promise<void>;
  readUser(uid: string): Promise<Record<string, unknown> | undefined>;
  readRun(runId: string): Promise<Record<string, unknown> | undefined>;
}

export function describeSchedulerStoreContract(name: string, harness: StoreHarness): void {
  describe(`${name} scheduler store contract`, () => {
    let store: SchedulerStore;
    beforeEach(async () => {
      store = await harness.create();
    });

    it("returns due users oldest first, bounded by now, after and limit", async () => {
      await harness.putUser("late", userDocument({ nextCoachingMessageDue: 300 }));
      await harness.putUser("early", userDocument({ nextCoachingMessageDue: 100 }));
      await harness.putUser("middle", userDocument({ nextCoachingMessageDue: 200 }));
      await harness.putUser("future", userDocument({ nextCoachingMessageDue: 10_000 }));
      await harness.putUser("unscheduled", userDocument({ nextCoachingMessageDue: null }));
      await harness.putUser("missing", userDocument());

      const all = await store.getDueUsers({ now: 1_000, limit: 10 });
      expect(all.map((snapshot) => snapshot.uid)).toEqual(["early", "middle", "late"]);
      const bounded = await store.getDueUsers({ now: 1_000, after: 100, limit: 1 });
      expect(bounded.map((snapshot) => snapshot.uid)).toEqual(["middle"]);
      expect(bounded[0]?.nextCoachingMessageDue).toBe(200);
    });

    it("returns every user with one due time, and only explicit nulls as unscheduled", async () => {
      await harness.putUser("a", userDocument({ nextCoachingMessageDue: 500 }));
      await harness.putUser("b", userDocument({ nextCoachingMessageDue: 500 }));
      await harness.putUser("c", userDocument({ nextCoachingMessageDue: 501 }));
      await harness.putUser("n", userDocument({ nextCoachingMessageDue: null }));
      await harness.putUser("m", userDocument());

      const tied = await store.getUsersDueAt({ at: 500, limit: 10 });
      expect(tied.map((snapshot) => snapshot.uid).sort()).toEqual(["a", "b"]);
      const unscheduled = await store.getUnscheduledUsers({ limit: 10 });
      expect(unscheduled.map((snapshot) => snapshot.uid)).toEqual(["n"]);
    });

    it("parses valid users and reports malformed ones with the reason", async () => {
      await harness.putUser("good", userDocument({ timezone: "Asia/Kathmandu", nextCoachingMessageDue: 1 }));
      await harness.putUser(
        "bad",
        userDocument({ timezone: "Mars/Olympus_Mons", nextCoachingMessageDue: 2 }),
      );
      const [good, bad] = await store.getDueUsers({ now: 10, limit: 10 });
      expect(good).toMatchObject({
        uid: "good",
        valid: true,
        user: { uid: "good", timezone: "Asia/Kathmandu" },
      });
      expect(bad).toMatchObject({ uid: "bad", valid: false, enabled: true });
      expect(bad?.valid === false && bad.problem).toContain("timezone");
    });

    it("writes only the due time and reports users that no longer exist", async () => {
      const document = {
        ...userDocument({ nextCoachingMessageDue: 1 }),
        displayName: "Ada",
        extra: { kept: true },
      };
      await harness.putUser("kept", document);
      const { failed } = await store.setNextDue([
        { uid: "kept", nextCoachingMessageDue: 42 },
        { uid: "gone", nextCoachingMessageDue: 43 },
      ]);
      expect(failed.map((failure) => failure.uid)).toEqual(["gone"]);
      expect(await harness.readUser("kept")).toEqual({ ...document, nextCoachingMessageDue: 42 });
      expect(await harness.readUser("gone")).toBeUndefined();
    });

    it("stores a run summary and replaces it on a second save", async () => {
      const run = {
        runId: "2026-11-24T06:00:00.000Z_abc123",
        trigger: "cron" as const,
        status: "running" as const,
        startedAt: 1,
        finishedAt: null,
        durationMs: null,
        results: {
          usersDue: 0,
          usersBootstrapped: 0,
          jobsCreated: 0,
          errors: 0,
          rescheduledOutsideWindow: 0,
          skippedDisabled: 0,
          skippedSuspended: 0,
          deferredByBreaker: 0,
          breakerOpen: false,
          deferred: 0,
          hasMore: false,
          documentsRead: 0,
          documentsWritten: 0,
        },
        userResults: {},
        userResultsTruncated: false,
        failureReason: null,
      };
      await store.saveRun(run);
      await store.saveRun({ ...run, status: "completed", finishedAt: 5, durationMs: 4 });
      expect(await harness.readRun(run.runId)).toMatchObject({ status: "completed", durationMs: 4 });
    });
  });
}
