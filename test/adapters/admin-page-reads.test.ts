/**
 * What one render of the admin dashboard and of a users-table page costs in Firestore, counted by
 * the instrumented emulator (queries, count aggregations, documents read): the figures issue 13
 * asks to measure, printed for the report and bounded so a change that multiplies them fails.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppConfig, loadConfig } from "@/config";
import { dashboardData, usersTable } from "@/services/admin";
import { type EmulatorHandle, putDocuments, startTestEmulator } from "../support/firestore";
import {
  queriesMissingIndexes,
  queriesOnUnindexedFields,
  readFieldOverrides,
  readIndexes,
} from "../support/index-coverage";
import { userDocument } from "../support/users";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const USERS = 120;

let handle: EmulatorHandle;
let db: Firestore;
let projectId: string;
let config: AppConfig;
const now = Date.now();

beforeAll(async () => {
  handle = await startTestEmulator();
  ({ db, projectId } = handle.freshProject("admin-reads"));
  config = loadConfig({
    NODE_ENV: "test",
    FIREBASE_PROJECT_ID: projectId,
    FIRESTORE_EMULATOR_HOST: handle.emulator.host,
  });
  const uids = Array.from({ length: USERS }, (_, index) => `user-${String(index).padStart(3, "0")}`);
  await putDocuments(
    db,
    "users",
    uids.map((uid, index) => [
      uid,
      userDocument({ email: `${uid}@example.com`, nextCoachingMessageDue: now + (index % 30) * HOUR }),
    ]),
  );
  await putDocuments(
    db,
    "userProcessingState",
    uids.map((uid, index) => [
      uid,
      { uid, status: index % 10 === 0 ? "suspended" : "waiting", updatedAt: now },
    ]),
  );
  await putDocuments(
    db,
    "coachingMessages",
    uids.flatMap((uid, index) =>
      Array.from({ length: 3 }, (_, day): [string, Record<string, unknown>] => {
        const createdAt = now - day * DAY - index * 1_000;
        const sent = (index + day) % 4 !== 0;
        return [
          `${uid}_${day}`,
          {
            id: `${uid}_${day}`,
            uid,
            slotId: `${uid}_${day}`,
            createdAt,
            status: sent ? "sent" : "rejected",
            wasSent: sent,
            sentAt: sent ? createdAt : null,
            messageType: "reflection",
            effectivenessRating: 1 + ((index + day) % 10),
          },
        ];
      }),
    ),
  );
  await putDocuments(
    db,
    "schedulerRuns",
    Array.from({ length: 12 }, (_, index) => [
      `run-${index}`,
      { runId: `run-${index}`, status: "completed", trigger: "cron", startedAt: now - index * HOUR },
    ]),
  );
});

afterAll(async () => {
  await handle?.stop();
});

/** Queries, aggregations and documents read by `action` in this project. */
async function measure<Result>(action: () => Promise<Result>) {
  handle.emulator.resetStats(projectId);
  const result = await action();
  const { queries, aggregations, documentsRead } = handle.emulator.stats(projectId);
  return { result, reads: { queries, aggregations, documentsRead } };
}

/** What the seed puts in the day `daysAgo` days before today (UTC), counted from the seed itself. */
function seededDay(daysAgo: number) {
  const start = new Date(now).setUTCHours(0, 0, 0, 0) - daysAgo * DAY;
  let sent = 0;
  let gateFailures = 0;
  for (let index = 0; index < USERS; index += 1) {
    for (let day = 0; day < 3; day += 1) {
      const createdAt = now - day * DAY - index * 1_000;
      if (createdAt < start || createdAt >= start + DAY) continue;
      if ((index + day) % 4 !== 0) sent += 1;
      else gateFailures += 1;
    }
  }
  return { day: start, sent, gateFailures };
}

// Before issue 13 (measured with this file on the same seed): the dashboard issued 74 count
// aggregations and 2 queries per render; a users-table page 51 queries (123 with a status filter,
// which scanned 120 users and queried each one's last message).
describe("admin page reads per render", () => {
  it("the dashboard counts each figure once, and the days that are over only once a day", async () => {
    const first = await measure(() => dashboardData(config, now));
    const next = await measure(() => dashboardData(config, now + 60_000));
    console.log(
      `dashboard reads per render: first of the day ${JSON.stringify(first.reads)}, next ${JSON.stringify(next.reads)}`,
    );
    // 10 live counts (users, 4 statuses, due next hour and 24 h, overdue, outbox) + 10 ratings
    // + 24 due hours + today's 2 + acute-risk attempts in 24 h and 7 days (2), and on the day's
    // first render 13 past days × 2.
    expect(next.reads.aggregations).toBe(48);
    expect(first.reads.aggregations).toBeLessThanOrEqual(48 + 13 * 2);
    expect(next.reads.queries).toBe(1);
    for (const render of [first.result, next.result]) {
      expect(render.daily).toHaveLength(14);
      expect(render.daily.slice(-3)).toEqual([seededDay(2), seededDay(1), seededDay(0)]);
      expect(render.status.today).toMatchObject({
        messagesSent: seededDay(0).sent,
        gateFailures: seededDay(0).gateFailures,
      });
      expect(render.ratings.reduce((total, entry) => total + entry.count, 0)).toBe(USERS * 3);
      expect(render.runs).toHaveLength(8);
      expect(render.status.lastRun?.runId).toBe("run-0");
      expect(render.status.usersByStatus).toEqual({ waiting: 108, running: 0, suspended: 12, error: 0 });
    }
  });

  it("the dashboard's today is live while the days that are over come from the stored figures", async () => {
    await dashboardData(config, now);
    await putDocuments(db, "coachingMessages", [
      ["late-today", { uid: "user-000", status: "sent", wasSent: true, sentAt: now, createdAt: now }],
    ]);
    const { result } = await measure(() => dashboardData(config, now + 1_000));
    expect(result.daily.at(-1)).toEqual({ ...seededDay(0), sent: seededDay(0).sent + 1 });
    expect(result.status.today.messagesSent).toBe(seededDay(0).sent + 1);
    await db.collection("coachingMessages").doc("late-today").delete();
  });

  it("the users table queries the last message of the rows it shows only", async () => {
    const plain = await measure(() => usersTable(config, {}));
    const filtered = await measure(() => usersTable(config, { status: "suspended" }));
    console.log(
      `users table reads per page: plain ${JSON.stringify(plain.reads)}, status filter ${JSON.stringify(filtered.reads)}`,
    );
    expect(plain.result.rows).toHaveLength(25);
    expect(filtered.result.rows).toHaveLength(12);
    expect(filtered.result.rows.every((row) => row.status === "suspended")).toBe(true);
    expect(filtered.result.rows[0]).toMatchObject({
      uid: "user-000",
      lastMessageType: "reflection",
      lastRating: 1,
    });
    // One query per scanned batch of 50 users, and one per row shown.
    expect(plain.reads.queries).toBe(1 + 25);
    expect(filtered.reads.queries).toBe(3 + 12);
  });

  it("every query of these pages has its index, and none filters or orders on an unindexed field", () => {
    const queries = handle.emulator.recordedQueries();
    expect(queriesMissingIndexes(queries, readIndexes())).toEqual([]);
    expect(queriesOnUnindexedFields(queries, readFieldOverrides())).toEqual([]);
  });
});
