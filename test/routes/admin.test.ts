import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmulatorHandle, putDocuments } from "../support/firestore";
import type { NextServer } from "../support/next-server";
import { HOUR, seedDueUser } from "../support/processor";
import { quietWrites } from "../support/quiet-writes";
import { caller, type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "admin-test-secret-0123456789abcd";
const TEST_ROUTE = "/api/coaching/generateCoachingMessage/test";

let stack: RouteStack;
let handle: EmulatorHandle;
let db: Firestore;
let projectId: string;
let server: NextServer;

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "admin-route",
    cronSecret: SECRET,
    env: { ENABLE_TEST_ROUTES: "true" },
  });
  ({ handle, db, projectId, server } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

const call = caller(() => server, { method: "GET", token: SECRET });

async function snapshotOf(uid: string) {
  const read = async (path: string) =>
    Object.fromEntries(
      (await db.collection(path).get()).docs.map((document) => [document.id, document.data()]),
    );
  const byUid = async (collection: string) =>
    Object.fromEntries(
      (await db.collection(collection).where("uid", "==", uid).get()).docs.map((document) => [
        document.id,
        document.data(),
      ]),
    );
  return {
    user: (await db.doc(`users/${uid}`).get()).data(),
    journal: await read(`users/${uid}/journalEntries`),
    messages: await byUid("coachingMessages"),
    slots: await byUid("coachingSlots"),
    state: (await db.doc(`userProcessingState/${uid}`).get()).data(),
  };
}

describe("admin API: refusals write nothing", () => {
  it.each([
    ["GET", "/api/admin/users", 401, undefined, null],
    ["GET", "/api/admin/users/someone", 401, undefined, null],
    ["DELETE", "/api/admin/users/someone", 401, undefined, "wrong-wrong-wrong-wrong-wrong-00"],
    ["POST", "/api/admin/users/someone/suspend", 401, { reason: "x", hours: 1 }, null],
    ["POST", "/api/admin/users/someone/resume", 401, undefined, null],
    ["GET", "/api/admin/runs", 401, undefined, null],
    ["GET", "/api/admin/status", 401, undefined, null],
    ["GET", "/api/cron/cleanup", 401, undefined, null],
    ["GET", "/api/admin/users?limit=0", 400, undefined, SECRET],
    ["GET", "/api/admin/users?status=asleep", 400, undefined, SECRET],
    ["GET", "/api/admin/users?junk=1", 400, undefined, SECRET],
    ["GET", "/api/admin/runs?before=yesterday", 400, undefined, SECRET],
    ["GET", `/api/admin/users/${"x".repeat(129)}`, 400, undefined, SECRET],
    ["GET", "/api/admin/users/nobody", 404, undefined, SECRET],
    ["DELETE", "/api/admin/users/nobody", 404, undefined, SECRET],
    ["POST", "/api/admin/users/someone/suspend", 400, "{nope", SECRET],
    ["POST", "/api/admin/users/someone/suspend", 400, { hours: 1 }, SECRET],
    ["POST", "/api/admin/users/someone/suspend", 400, { reason: "x" }, SECRET],
    ["POST", "/api/admin/users/someone/suspend", 400, { reason: "x", hours: 1, until: 5 }, SECRET],
    ["POST", "/api/admin/users/someone/suspend", 400, { reason: "x", hours: -1 }, SECRET],
    ["POST", "/api/admin/users/nobody/suspend", 404, { reason: "x", hours: 1 }, SECRET],
    ["POST", "/api/admin/users/nobody/resume", 404, undefined, SECRET],
  ] as const)("%s %s → %i", async (method, path, status, body, token) => {
    await seedDueUser(db, { uid: "someone", now: Date.now() });
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    const response = await call(path, { method, body, token });
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual({ success: false, error: expect.any(String) });
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
  });
});

describe("admin API", () => {
  it("shows a processed user's state, history and messages", async () => {
    await seedDueUser(db, { uid: "shown", now: Date.now() });
    const run = await (
      await call(TEST_ROUTE, { method: "POST", body: { action: "test-user", userId: "shown" } })
    ).json();
    expect(run.messageGenerated).toBe(true);
    const detail = await (await call("/api/admin/users/shown")).json();
    expect(detail).toMatchObject({
      success: true,
      userId: "shown",
      state: { status: "waiting", stats: { messagesSent: 1 } },
      deliveries: {
        totalEmailsSent: expect.any(Number),
        emailsSentToday: expect.any(Number),
        totalPushesSent: expect.any(Number),
      },
      messages: [expect.objectContaining({ wasSent: true, effectivenessRating: expect.any(Number) })],
    });
    expect(detail.state.actionHistory.length).toBeGreaterThan(3);
    const list = await (await call("/api/admin/users?limit=100")).json();
    expect(list.users.map((user: { uid: string }) => user.uid)).toContain("shown");
  });

  it("clearing one of three users leaves the other two exactly as they were", async () => {
    const uids = ["keep-a", "clear-me", "keep-b"];
    for (const uid of uids) {
      await seedDueUser(db, { uid, now: Date.now() });
      await call(TEST_ROUTE, { method: "POST", body: { action: "test-user", userId: uid } });
    }
    const before = { a: await snapshotOf("keep-a"), b: await snapshotOf("keep-b") };
    expect(Object.keys(before.a.messages)).toHaveLength(1);
    const response = await call("/api/admin/users/clear-me", { method: "DELETE" });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      success: true,
      deleted: { coachingMessages: 1, coachingJournalEntries: 1, processingState: 1 },
    });
    expect(await snapshotOf("keep-a")).toEqual(before.a);
    expect(await snapshotOf("keep-b")).toEqual(before.b);
    const cleared = await snapshotOf("clear-me");
    expect(cleared.messages).toEqual({});
    expect(cleared.state).toBeUndefined();
    expect(Object.values(cleared.journal).every((entry) => entry.isCoachingMessage !== true)).toBe(true);
    expect(Object.keys(cleared.journal)).toHaveLength(3);
    expect(cleared.user?.nextCoachingMessageDue).toBeNull();
  });

  it("suspends and resumes a user", async () => {
    await seedDueUser(db, { uid: "pausable", now: Date.now() });
    const suspended = await call("/api/admin/users/pausable/suspend", {
      method: "POST",
      body: { reason: "asked for a break", hours: 48 },
    });
    expect(suspended.status).toBe(200);
    const detail = await (await call("/api/admin/users/pausable")).json();
    expect(detail.state).toMatchObject({ status: "suspended", suspendReason: "asked for a break" });
    const tried = await (
      await call(TEST_ROUTE, { method: "POST", body: { action: "test-user", userId: "pausable" } })
    ).json();
    expect(tried).toMatchObject({ messageGenerated: false, reason: "suspended" });
    expect((await call("/api/admin/users/pausable/resume", { method: "POST" })).status).toBe(200);
    const resumed = await (await call("/api/admin/users/pausable")).json();
    expect(resumed.state).toMatchObject({ status: "waiting", suspendUntil: null });
    expect((await db.doc("users/pausable").get()).get("suspendUntil")).toBeNull();
  });

  it("lists run summaries newest first, page by page", async () => {
    const base = Date.now() - 10 * HOUR;
    await putDocuments(
      db,
      "schedulerRuns",
      Array.from({ length: 5 }, (_, index) => [
        `run-${index}`,
        {
          runId: `run-${index}`,
          startedAt: base + index * HOUR,
          status: "completed",
          results: { usersDue: index },
        },
      ]),
    );
    const first = await (await call(`/api/admin/runs?limit=2&before=${base + 5 * HOUR}`)).json();
    expect(first.runs.map((run: { runId: string }) => run.runId)).toEqual(["run-4", "run-3"]);
    const second = await (await call(`/api/admin/runs?limit=2&before=${first.nextCursor}`)).json();
    expect(second.runs.map((run: { runId: string }) => run.runId)).toEqual(["run-2", "run-1"]);
  });

  it("reports the system status, with a stale scheduler when the last run is over 2 h old", async () => {
    const status = await (await call("/api/admin/status")).json();
    expect(status).toMatchObject({
      success: true,
      usersByStatus: { waiting: expect.any(Number), suspended: expect.any(Number) },
      due: { overdue: expect.any(Number), nextHour: expect.any(Number), next24Hours: expect.any(Number) },
      today: { messagesSent: expect.any(Number), gateFailures: expect.any(Number) },
      events: { pending: expect.any(Number), deadLetters: expect.any(Number) },
      llmBreaker: { gate: "closed" },
    });
    // Users by status as the latest rollup counted them (null: counted live, before the first).
    expect(status).toHaveProperty("usersAsOf");
    const sent = (await db.collection("coachingMessages").where("wasSent", "==", true).get()).size;
    expect(status.today.messagesSent).toBe(sent);
    expect(status.schedulerStale).toBe(true);
    await call("/api/coaching/generateCoachingMessage/scheduler", { method: "POST", body: {} });
    const fresh = await (await call("/api/admin/status")).json();
    expect(fresh.schedulerStale).toBe(false);
    expect(fresh.lastRun.ageMs).toBeLessThan(60_000);
  });

  it("runs the cleanup cron", async () => {
    const response = await call("/api/cron/cleanup");
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      success: true,
      total: expect.any(Number),
      deleted: expect.any(Object),
    });
  });
});
