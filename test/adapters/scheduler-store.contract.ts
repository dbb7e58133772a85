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
  /** A `coachingSlots` document as the processor writes it. */
  putSlot(slotId: string, slot: Record<string, unknown>): Promise<void>;
}

function slotDocument(slotId: string, status: "running" | "completed"): Record<string, unknown> {
  const [uid = "", dueAt = "0"] = slotId.split("_");
  return {
    slotId,
    uid,
    dueAt: Number(dueAt),
    forced: false,
    status,
    leaseNumber: 1,
    leaseUntil: 0,
    outcome: status === "completed" ? "sent" : null,
    messageId: null,
    nextCoachingMessageDue: null,
    failureReason: null,
    createdAt: 0,
    updatedAt: 0,
  };
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

    it("sweeps users by document id after a cursor, returning those without a finite due time", async () => {
      await harness.putUser("a-scheduled", userDocument({ nextCoachingMessageDue: 5 }));
      await harness.putUser("b-missing", userDocument());
      await harness.putUser("c-null", userDocument({ nextCoachingMessageDue: null }));
      // A Date is stored as a Firestore Timestamp: another type, which no due-time query matches.
      await harness.putUser("d-timestamp", {
        ...userDocument(),
        nextCoachingMessageDue: new Date("2026-11-24T09:00:00Z"),
      });
      await harness.putUser("e-string", { ...userDocument(), nextCoachingMessageDue: "tomorrow" });

      const first = await store.sweepUsers({ after: null, limit: 3 });
      expect(first.scanned).toBe(3);
      expect(first.documentsRead).toBe(3 + 2);
      expect(first.lastUid).toBe("c-null");
      expect(first.unscheduled.map((snapshot) => [snapshot.uid, snapshot.nextCoachingMessageDue])).toEqual([
        ["b-missing", undefined],
        ["c-null", null],
      ]);
      const second = await store.sweepUsers({ after: "c-null", limit: 3 });
      expect(second).toMatchObject({ scanned: 2, lastUid: "e-string", documentsRead: 4 });
      // A due time of another type reads as missing, so the user is valid and can be bootstrapped.
      expect(second.unscheduled).toMatchObject([
        { uid: "d-timestamp", valid: true, nextCoachingMessageDue: undefined },
        { uid: "e-string", valid: true, nextCoachingMessageDue: undefined },
      ]);
      expect(await store.sweepUsers({ after: "e-string", limit: 3 })).toEqual({
        scanned: 0,
        lastUid: null,
        unscheduled: [],
        documentsRead: 0,
      });
    });

    it("counts all users and those without a finite due time", async () => {
      await harness.putUser("a", userDocument({ nextCoachingMessageDue: 5 }));
      await harness.putUser("b", userDocument({ nextCoachingMessageDue: -1 }));
      await harness.putUser("c", userDocument());
      await harness.putUser("d", userDocument({ nextCoachingMessageDue: null }));
      await harness.putUser("e", { ...userDocument(), nextCoachingMessageDue: "soon" });
      expect(await store.countUsers()).toEqual({ total: 5, withoutDueTime: 3, billedReads: 2 });
    });

    it("keeps the sweep's cursor", async () => {
      expect(await store.getSweepState()).toBeNull();
      const state = { cursor: "user-42", passStartedAt: 1, updatedAt: 2 };
      await store.saveSweepState(state);
      expect(await store.getSweepState()).toEqual(state);
    });

    it("finds the slots that exist and are not completed", async () => {
      await harness.putSlot("u1_100", slotDocument("u1_100", "running"));
      await harness.putSlot("u2_200", slotDocument("u2_200", "completed"));
      const open = await store.getOpenSlots(["u1_100", "u2_200", "u3_300"]);
      expect([...open]).toEqual(["u1_100"]);
      expect(await store.getOpenSlots([])).toEqual(new Set());
    });

    it("marks a parked due time, and leaves the mark to go stale on any other write", async () => {
      await harness.putUser("off", userDocument({ enabled: false, nextCoachingMessageDue: 1 }));
      await store.setNextDue([{ uid: "off", nextCoachingMessageDue: 50, parked: true }]);
      expect(await harness.readUser("off")).toMatchObject({
        nextCoachingMessageDue: 50,
        coachingParkedUntil: 50,
      });
      await store.setNextDue([{ uid: "off", nextCoachingMessageDue: 60 }]);
      // Parked only while the mark equals the due time.
      expect(await harness.readUser("off")).toMatchObject({
        nextCoachingMessageDue: 60,
        coachingParkedUntil: 50,
      });
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
          usersSwept: 0,
          sweepWrapped: false,
          aggregationReads: 0,
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
