import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import { USER_STATUSES, type UserStatus } from "@/core/processing-state";
import { countMatching } from "../batched-delete";
import { COLLECTIONS } from "../collections";
import { hourlySnapshotSchema } from "../metrics-documents";

/** Hourly documents searched back for a users snapshot when the newest has none (a day of them). */
const SNAPSHOT_LOOKBACK_HOURS = 24;

export interface UserCounts {
  usersTotal: number;
  usersByStatus: Record<UserStatus, number>;
  /** When the users were counted: the rollup snapshot's time, or null when counted live now. */
  usersAsOf: number | null;
  /** The rollup has stored hours but none of the day's newest has a snapshot: counted live, and stale. */
  snapshotsFailing: boolean;
}

/**
 * All users and users by processing status for the status route and the dashboard, as the latest
 * metrics rollup counted them: one document read (the newest hourly one) while the rollup runs,
 * which it does beside every outbox cron drain, so the snapshot is an hour or two old at most.
 * An hour whose snapshot failed (stored without one) falls back to the newest of the day's hours
 * that has one (its time is shown, and flagged stale past 2 h), not to counting every user. Only
 * when none has (a new deployment, or snapshots failing for a day: `snapshotsFailing`) are the
 * users counted live: 5 aggregations over them.
 */
export async function readUserCounts(db: Firestore): Promise<UserCounts> {
  const newest = await newestSnapshot(db, 1);
  const found = newest.snapshot ? newest : await newestSnapshot(db, SNAPSHOT_LOOKBACK_HOURS);
  const { snapshot } = found;
  if (snapshot) {
    return {
      usersTotal: snapshot.usersTotal,
      usersByStatus: byStatus((status) => snapshot.usersByStatus[status] ?? 0),
      usersAsOf: snapshot.at,
      snapshotsFailing: false,
    };
  }
  const states = db.collection(COLLECTIONS.userProcessingState);
  const [usersTotal, counts] = await Promise.all([
    countMatching(db.collection(COLLECTIONS.users)),
    Promise.all(USER_STATUSES.map((status) => countMatching(states.where("status", "==", status)))),
  ]);
  return {
    usersTotal,
    usersByStatus: byStatus((status) => counts[USER_STATUSES.indexOf(status)] ?? 0),
    usersAsOf: null,
    snapshotsFailing: found.hours > 0,
  };
}

/**
 * The snapshot of the first of the newest `hours` hourly documents that has one (only the snapshot
 * is parsed), and how many hourly documents were read.
 */
async function newestSnapshot(db: Firestore, hours: number) {
  const latest = await db
    .collection(COLLECTIONS.metricsHourly)
    .orderBy("hourStart", "desc")
    .limit(hours)
    .get();
  for (const document of latest.docs) {
    const parsed = hourlySnapshotSchema.safeParse(document.data());
    if (parsed.success && parsed.data.snapshot) return { snapshot: parsed.data.snapshot, hours: latest.size };
  }
  return { snapshot: null, hours: latest.size };
}

function byStatus(count: (status: UserStatus) => number): Record<UserStatus, number> {
  return Object.fromEntries(USER_STATUSES.map((status) => [status, count(status)])) as Record<
    UserStatus,
    number
  >;
}
