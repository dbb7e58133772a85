/**
 * What one render of the admin dashboard and of a users-table page costs in Firestore, counted by
 * the instrumented emulator (queries, count aggregations, documents read): the figures issue 13
 * asks to measure, printed for the report and bounded so a change that multiplies them fails.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFirestoreMetricsStore } from "@/adapters/firestore/metrics-store";
import { type AppConfig, loadConfig } from "@/config";
import { rollUpMetrics } from "@/pipeline/roll-up-metrics";
import { dashboardData, systemStatus, usersTable } from "@/services/admin";
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
let configEnv: { NODE_ENV: "test"; FIRESTORE_EMULATOR_HOST: string };
const now = Date.now();

beforeAll(async () => {
  handle = await startTestEmulator();
  ({ db, projectId } = handle.freshProject("admin-reads"));
  configEnv = { NODE_ENV: "test", FIRESTORE_EMULATOR_HOST: handle.emulator.host };
  config = loadConfig({ ...configEnv, FIREBASE_PROJECT_ID: projectId });
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
  // The rollup (as a tick or an outbox drain runs it): its snapshot holds the users by status,
  // its engagement documents the sent messages per rating, both read by the dashboard.
  await rollUpMetrics({ store: createFirestoreMetricsStore(db), now, elapsedMs: () => 0 });
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

/** The seeded messages sent in the engagement's 14 days, by effectiveness rating 1-10. */
function seededSentByRating() {
  const counts = Array.from({ length: 10 }, (_, index) => ({ rating: index + 1, count: 0 }));
  for (let index = 0; index < USERS; index += 1) {
    for (let day = 0; day < 3; day += 1) {
      const entry = counts[(index + day) % 10];
      if (entry && (index + day) % 4 !== 0) entry.count += 1;
    }
  }
  return counts;
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
    // 5 live counts (due next hour and 24 h, overdue, outbox: pending and dead letters) + 24 due
    // hours + today's 2 + acute-risk attempts in 24 h and 7 days (2), and on the day's first
    // render 13 past days × 2. Users by status and the ratings come from the rollup's documents
    // (the latest hour's snapshot, 14 days of engagement): nothing that grows with users.
    expect(next.reads.aggregations).toBe(33);
    expect(first.reads.aggregations).toBeLessThanOrEqual(33 + 13 * 2);
    // The run list, the latest rollup hour, the engagement days, the last 20 acute-risk attempts.
    expect(next.reads.queries).toBe(4);
    for (const render of [first.result, next.result]) {
      expect(render.daily).toHaveLength(14);
      expect(render.daily.slice(-3)).toEqual([seededDay(2), seededDay(1), seededDay(0)]);
      expect(render.status.today).toMatchObject({
        messagesSent: seededDay(0).sent,
        gateFailures: seededDay(0).gateFailures,
      });
      expect(render.ratings).toEqual(seededSentByRating());
      expect(render.runs).toHaveLength(8);
      expect(render.status.lastRun?.runId).toBe("run-0");
      expect(render.status.usersByStatus).toEqual({ waiting: 108, running: 0, suspended: 12, error: 0 });
      expect(render.status.usersAsOf).toBe(now);
    }
  });

  it("the status route takes users by status from the rollup's snapshot: nothing counted over users", async () => {
    const { result, reads } = await measure(() => systemStatus(config, now + 60_000));
    console.log(`status reads per call: ${JSON.stringify(reads)}`);
    expect(result.usersByStatus).toEqual({ waiting: 108, running: 0, suspended: 12, error: 0 });
    expect(result.usersAsOf).toBe(now);
    expect(result.usersStale).toBe(false);
    expect(result.usersNeverProcessed).toBe(0);
    // A snapshot left over 2 h behind says so: the rollup has stopped.
    expect((await systemStatus(config, now + 3 * 3_600_000)).usersStale).toBe(true);
    // 5 live counts (due next hour and 24 h, overdue, outbox: pending and dead letters) and
    // today's 2; the latest rollup hour and the last run: 2 queries of one document each.
    expect(reads.aggregations).toBe(7);
    expect(reads.queries).toBe(2);
  });

  it("takes the users from the newest hour that has a snapshot when the latest hour's failed: nothing counted over users", async () => {
    const project = handle.freshProject("admin-reads-snapshot-failed");
    await putDocuments(project.db, "users", [
      ["u1", userDocument({ email: "u1@example.com" })],
      ["u2", userDocument({ email: "u2@example.com" })],
    ]);
    await putDocuments(project.db, "userProcessingState", [
      ["u1", { uid: "u1", status: "error", updatedAt: now }],
    ]);
    await rollUpMetrics({ store: createFirestoreMetricsStore(project.db), now, elapsedMs: () => 0 });
    // The next hour rolled up with its snapshot failed (stored without one).
    const hours = await project.db.collection("metricsHourly").orderBy("hourStart", "desc").limit(1).get();
    const latest = hours.docs[0];
    if (!latest) throw new Error("the rollup stored no hour");
    const nextHour = (latest.data().hourStart as number) + HOUR;
    await putDocuments(project.db, "metricsHourly", [
      [String(nextHour), { ...latest.data(), hourStart: nextHour, snapshot: null }],
    ]);
    const projectConfig = loadConfig({ ...configEnv, FIREBASE_PROJECT_ID: project.projectId });
    handle.emulator.resetStats(project.projectId);
    const status = await systemStatus(projectConfig, now + HOUR);
    const { aggregations } = handle.emulator.stats(project.projectId);
    expect(status).toMatchObject({
      usersByStatus: { waiting: 0, running: 0, suspended: 0, error: 1 },
      usersNeverProcessed: 1,
      usersAsOf: now,
    });
    expect(aggregations).toBe(7);
  });

  it("counts users live, and says the figures are stale, when the rollup runs but none of the day's hours has a snapshot", async () => {
    const project = handle.freshProject("admin-reads-snapshots-failing");
    await putDocuments(project.db, "users", [["u1", userDocument({ email: "u1@example.com" })]]);
    await putDocuments(project.db, "userProcessingState", [
      ["u1", { uid: "u1", status: "error", updatedAt: now }],
    ]);
    await rollUpMetrics({ store: createFirestoreMetricsStore(project.db), now, elapsedMs: () => 0 });
    const hours = await project.db.collection("metricsHourly").get();
    expect(hours.size).toBeGreaterThan(0);
    await Promise.all(hours.docs.map((hour) => hour.ref.update({ snapshot: null })));
    const status = await systemStatus(
      loadConfig({ ...configEnv, FIREBASE_PROJECT_ID: project.projectId }),
      now,
    );
    expect(status).toMatchObject({
      usersByStatus: { waiting: 0, running: 0, suspended: 0, error: 1 },
      usersAsOf: null,
      usersStale: true,
    });
  });

  it("counts users by status live until a rollup has taken a snapshot", async () => {
    const fresh = handle.freshProject("admin-reads-fresh");
    await putDocuments(fresh.db, "users", [
      ["u1", userDocument({ email: "u1@example.com" })],
      ["u2", userDocument({ email: "u2@example.com" })],
      ["u3", userDocument({ email: "u3@example.com" })],
    ]);
    await putDocuments(fresh.db, "userProcessingState", [
      ["u1", { uid: "u1", status: "waiting", updatedAt: now }],
      ["u2", { uid: "u2", status: "error", updatedAt: now }],
    ]);
    const render = await dashboardData(
      loadConfig({ ...configEnv, FIREBASE_PROJECT_ID: fresh.projectId }),
      now,
    );
    expect(render.status.usersByStatus).toEqual({ waiting: 1, running: 0, suspended: 0, error: 1 });
    expect(render.status.usersNeverProcessed).toBe(1);
    expect(render.status.usersAsOf).toBeNull();
    const status = await systemStatus(
      loadConfig({ ...configEnv, FIREBASE_PROJECT_ID: fresh.projectId }),
      now,
    );
    expect(status).toMatchObject({
      usersByStatus: { waiting: 1, running: 0, suspended: 0, error: 1 },
      usersNeverProcessed: 1,
      usersAsOf: null,
      usersStale: false,
    });
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
