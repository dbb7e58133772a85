/**
 * The behaviour every SchedulerStore must show, run against Firestore (on the emulator) and
 * the in-memory twin alike.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { dueRank } from "@/core/due-rank";
import type { ChainStepRecord, SchedulerStore } from "@/pipeline/scheduler-store-ports";
import { type UserDocumentOptions, userDocument } from "../support/users";

/** A user document as the engine leaves it: a due time and its rank (ranks are never whole numbers). */
function rankedUser(options: UserDocumentOptions & { rank: number }): Record<string, unknown> {
  const { rank, ...rest } = options;
  return { ...userDocument(rest), coachingDueRank: rank };
}

export interface StoreHarness {
  /** A fresh, empty store for one test. */
  create(): Promise<SchedulerStore>;
  putUser(uid: string, document: Record<string, unknown>): Promise<void>;
  readUser(uid: string): Promise<Record<string, unknown> | undefined>;
  readRun(runId: string): Promise<Record<string, unknown> | undefined>;
  /** A `coachingSlots` document as the processor writes it. */
  putSlot(slotId: string, slot: Record<string, unknown>): Promise<void>;
}

function slotDocument(
  slotId: string,
  status: "running" | "completed",
  nextCoachingMessageDue: number | null = null,
): Record<string, unknown> {
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
    nextCoachingMessageDue,
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

    it("returns ranked due users by due time, bounded by now and limit, with their rank", async () => {
      await harness.putUser("late", rankedUser({ nextCoachingMessageDue: 300, rank: 0.5 }));
      await harness.putUser("early", rankedUser({ nextCoachingMessageDue: 100, rank: 0.5 }));
      await harness.putUser("middle", rankedUser({ nextCoachingMessageDue: 200, rank: 0.5 }));
      await harness.putUser("future", rankedUser({ nextCoachingMessageDue: 10_000, rank: 0.5 }));
      await harness.putUser("unscheduled", userDocument({ nextCoachingMessageDue: null }));
      await harness.putUser("missing", userDocument());

      const all = await store.getDueUsers({ now: 1_000, limit: 10 });
      expect(all.map((snapshot) => snapshot.uid)).toEqual(["early", "middle", "late"]);
      expect(all[0]).toMatchObject({ nextCoachingMessageDue: 100, dueRank: 0.5 });
      const bounded = await store.getDueUsers({ now: 1_000, limit: 2 });
      expect(bounded.map((snapshot) => snapshot.uid)).toEqual(["early", "middle"]);
    });

    it("orders a group of equal due times by rank and pages on (due, rank) across groups", async () => {
      await harness.putUser("a", rankedUser({ nextCoachingMessageDue: 500, rank: 0.75 }));
      await harness.putUser("b", rankedUser({ nextCoachingMessageDue: 500, rank: 0.25 }));
      await harness.putUser("c", rankedUser({ nextCoachingMessageDue: 500, rank: -0.5 })); // missed a window
      await harness.putUser("d", rankedUser({ nextCoachingMessageDue: 501, rank: 0.125 }));
      await harness.putUser("e", rankedUser({ nextCoachingMessageDue: 400, rank: 0.875 }));

      const ids = async (after: { due: number; rank: number } | undefined, limit: number) =>
        (await store.getDueUsers({ now: 1_000, after, limit })).map((snapshot) => snapshot.uid);
      expect(await ids(undefined, 10)).toEqual(["e", "c", "b", "a", "d"]);
      expect(await ids({ due: 500, rank: -0.5 }, 10)).toEqual(["b", "a", "d"]);
      // The rest of the group first, then the later groups, in one page.
      expect(await ids({ due: 500, rank: 0.25 }, 2)).toEqual(["a", "d"]);
      expect(await ids({ due: 500, rank: 0.75 }, 1)).toEqual(["d"]);
      expect(await ids({ due: 501, rank: 0.125 }, 10)).toEqual([]);
    });

    it("never returns a due user without a numeric rank from the ranked walk, and counts them", async () => {
      await harness.putUser("ranked", rankedUser({ nextCoachingMessageDue: 100, rank: 0.5 }));
      await harness.putUser("app-written", userDocument({ nextCoachingMessageDue: 100 }));
      await harness.putUser("odd-rank", {
        ...userDocument({ nextCoachingMessageDue: 50 }),
        coachingDueRank: "x",
      });
      await harness.putUser("not-due", userDocument({ nextCoachingMessageDue: 5_000 }));

      const due = await store.getDueUsers({ now: 1_000, limit: 10 });
      expect(due.map((snapshot) => snapshot.uid)).toEqual(["ranked"]);
      expect(await store.countDueUsers({ now: 1_000 })).toEqual({ due: 3, ranked: 1, billedReads: 2 });
    });

    it("scans due users by (due, id) and gives the unranked ones the rank of their due time", async () => {
      await harness.putUser("u1", userDocument({ nextCoachingMessageDue: 100 }));
      await harness.putUser("u2", rankedUser({ nextCoachingMessageDue: 100, rank: 0.5 }));
      await harness.putUser("u3", userDocument({ nextCoachingMessageDue: 100 }));
      await harness.putUser("u0", userDocument({ nextCoachingMessageDue: 200 }));
      await harness.putUser("later", userDocument({ nextCoachingMessageDue: 5_000 }));

      const first = await store.scanUnrankedDueUsers({ now: 1_000, after: null, limit: 2 });
      expect(first).toEqual({
        scanned: 2,
        last: { due: 100, uid: "u2" },
        unranked: [{ uid: "u1", due: 100 }],
        documentsRead: 2,
      });
      const second = await store.scanUnrankedDueUsers({ now: 1_000, after: first.last, limit: 5 });
      expect(second).toMatchObject({
        scanned: 2,
        last: { due: 200, uid: "u0" },
        unranked: [
          { uid: "u3", due: 100 },
          { uid: "u0", due: 200 },
        ],
      });
      const { failed } = await store.setDueRanks([
        ...first.unranked,
        ...second.unranked,
        { uid: "gone", due: 1 },
      ]);
      expect(failed.map((failure) => failure.uid)).toEqual(["gone"]);
      expect(await harness.readUser("u1")).toMatchObject({
        nextCoachingMessageDue: 100,
        coachingDueRank: dueRank({ uid: "u1", dueAt: 100 }),
      });
      expect(await harness.readUser("gone")).toBeUndefined();
      const walked = await store.getDueUsers({ now: 1_000, limit: 10 });
      expect(walked.map((snapshot) => snapshot.uid).sort()).toEqual(["u0", "u1", "u2", "u3"]);
    });

    it("returns only explicit nulls as unscheduled", async () => {
      await harness.putUser("a", userDocument({ nextCoachingMessageDue: 500 }));
      await harness.putUser("n", userDocument({ nextCoachingMessageDue: null }));
      await harness.putUser("m", userDocument());
      const unscheduled = await store.getUnscheduledUsers({ limit: 10 });
      expect(unscheduled.map((snapshot) => snapshot.uid)).toEqual(["n"]);
    });

    it("claims a chain step attempt once, reads it back and completes it", async () => {
      const step: ChainStepRecord = {
        chainId: "cron_2026-11-24T09",
        step: 0,
        attempt: 1,
        runId: "run-a",
        claimedAt: 1_000,
        leaseUntil: 121_000,
        status: "running",
      };
      expect(await store.createChainStep(step)).toBe("created");
      expect(await store.createChainStep({ ...step, runId: "run-b" })).toBe("exists");
      expect(await store.createChainStep({ ...step, attempt: 2, runId: "run-b" })).toBe("created");
      expect(await store.getChainStep(step)).toEqual(step);
      expect(await store.getChainStep({ ...step, step: 1 })).toBeNull();
      await store.completeChainStep(step);
      expect(await store.getChainStep(step)).toEqual({ ...step, status: "completed" });
    });

    it("parses valid users and reports malformed ones with the reason", async () => {
      await harness.putUser(
        "good",
        rankedUser({ timezone: "Asia/Kathmandu", nextCoachingMessageDue: 1, rank: 0.5 }),
      );
      await harness.putUser(
        "bad",
        rankedUser({ timezone: "Mars/Olympus_Mons", nextCoachingMessageDue: 2, rank: 0.5 }),
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

    it("writes only the due time with its rank and reports users that no longer exist", async () => {
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
      expect(await harness.readUser("kept")).toEqual({
        ...document,
        nextCoachingMessageDue: 42,
        coachingDueRank: dueRank({ uid: "kept", dueAt: 42 }),
      });
      expect(await harness.readUser("gone")).toBeUndefined();
    });

    it("writes the enable flag's mirror in the due time's own write when told it, else leaves it", async () => {
      await harness.putUser("off", { ...userDocument({ enabled: false }), coachingEnabled: true });
      await harness.putUser("on", userDocument());
      await harness.putUser("untold", { ...userDocument(), coachingEnabled: false });
      const { failed } = await store.setNextDue([
        { uid: "off", nextCoachingMessageDue: 50, parked: true, coachingEnabled: false },
        { uid: "on", nextCoachingMessageDue: 60, coachingEnabled: true },
        { uid: "untold", nextCoachingMessageDue: 70 },
      ]);
      expect(failed).toEqual([]);
      expect(await harness.readUser("off")).toMatchObject({
        nextCoachingMessageDue: 50,
        coachingEnabled: false,
      });
      expect(await harness.readUser("on")).toMatchObject({
        nextCoachingMessageDue: 60,
        coachingEnabled: true,
      });
      expect(await harness.readUser("untold")).toMatchObject({
        nextCoachingMessageDue: 70,
        coachingEnabled: false,
      });
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

    it("sweeps a user whose due time is a number beyond any date as unscheduled", async () => {
      await harness.putUser("a-far", { ...userDocument(), nextCoachingMessageDue: 1e300 });
      await harness.putUser("b-scheduled", userDocument({ nextCoachingMessageDue: 5 }));
      const page = await store.sweepUsers({ after: null, limit: 10 });
      expect(page.unscheduled).toMatchObject([
        { uid: "a-far", valid: true, nextCoachingMessageDue: undefined },
      ]);
      expect(await store.countUsers()).toMatchObject({ total: 2, withoutDueTime: 1 });
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

    it("finds the slots that exist: open ones, and completed ones with the next due time they recorded", async () => {
      await harness.putSlot("u1_100", slotDocument("u1_100", "running"));
      await harness.putSlot("u2_200", slotDocument("u2_200", "completed"));
      await harness.putSlot("u4_400", slotDocument("u4_400", "completed", 9_000));
      const slots = await store.getDueSlots(["u1_100", "u2_200", "u3_300", "u4_400"]);
      expect(new Map([...slots].sort(([a], [b]) => (a < b ? -1 : 1)))).toEqual(
        new Map([
          ["u1_100", { open: true, nextCoachingMessageDue: null }],
          ["u2_200", { open: false, nextCoachingMessageDue: null }],
          ["u4_400", { open: false, nextCoachingMessageDue: 9_000 }],
        ]),
      );
      expect(await store.getDueSlots([])).toEqual(new Map());
    });

    it("keeps the sweep's page within a chain", async () => {
      const state = {
        cursor: "user-7",
        passStartedAt: 1,
        updatedAt: 2,
        chain: { chainId: "cron_2026-11-24T09", pageSize: 500, scanned: 120 },
      };
      await store.saveSweepState(state);
      expect(await store.getSweepState()).toEqual(state);
    });

    it("ranks a due time lower by one step per window the user missed in a row", async () => {
      await harness.putUser("missed", rankedUser({ nextCoachingMessageDue: 1, rank: 0.5 }));
      await store.setNextDue([{ uid: "missed", nextCoachingMessageDue: 70, missedWindows: 2 }]);
      const rank = (await harness.readUser("missed"))?.coachingDueRank as number;
      expect(rank).toBe(dueRank({ uid: "missed", dueAt: 70, missedWindows: 2 }));
      expect(rank).toBeGreaterThan(-2);
      expect(rank).toBeLessThan(-1);
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
          dispatchesUnconfirmed: 0,
          errors: 0,
          rescheduledOutsideWindow: 0,
          skippedDisabled: 0,
          skippedSuspended: 0,
          deferredByBreaker: 0,
          breakerOpen: false,
          breakerProbeDue: false,
          deferred: 0,
          hasMore: false,
          usersSwept: 0,
          sweepWrapped: false,
          aggregationReads: 0,
          documentsRead: 0,
          documentsWritten: 0,
          usersRanked: 0,
        },
        userResults: {},
        userResultsTruncated: false,
        failureReason: null,
        chain: null,
      };
      await store.saveRun(run);
      await store.saveRun({ ...run, status: "completed", finishedAt: 5, durationMs: 4 });
      expect(await harness.readRun(run.runId)).toMatchObject({ status: "completed", durationMs: 4 });
    });
  });
}
