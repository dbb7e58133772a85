import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import { mergeEngagement } from "@/core/engagement";
import { countMatching } from "../batched-delete";
import { COLLECTIONS, DUE_FIELD } from "../collections";
import { firestoreCall } from "../errors";
import { createFirestoreMetricsStore } from "../metrics-store";
import { parseRunSummary, type RunSummary } from "./documents";
import { createFirestoreRunsStore } from "./runs-store";
import { readUserCounts, type UserCounts } from "./user-counts";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Days of sent messages the ratings chart covers (the engagement tables' 14, today's so far included). */
const RATING_DAYS = 14;

/**
 * `systemState/adminDailyCounts`: the daily chart's figures for days that are over, so a render
 * counts only today (and a day not yet stored) instead of 14 days × 2 aggregations. A day is
 * stored once it ended more than `SETTLED_AFTER_MS` ago: a processor run stamps `sentAt` and
 * `createdAt` with the instant it started, and runs for at most 300 s, so nothing lands in a day
 * after that. What is stored is the day as it was counted: clearing a user's data later does not
 * take their messages out of past days.
 */
const DAILY_COUNTS_DOCUMENT = "adminDailyCounts";
const SETTLED_AFTER_MS = HOUR_MS;

const dailyFigures = z.object({
  sent: z.number().int().nonnegative(),
  gateFailures: z.number().int().nonnegative(),
});
const storedDailyCounts = z
  .object({ days: z.record(z.string(), dailyFigures.nullable().catch(null)).catch({}) })
  .catch({ days: {} });

export interface DayCounts {
  day: number;
  sent: number;
  gateFailures: number;
}

/**
 * The figures of the status route and the dashboard's panels. The users come from the metrics
 * rollup's snapshot on both (counting a million users on every render would cost a thousand reads
 * per count; see `readUserCounts`).
 */
export interface StatusCounts extends UserCounts {
  dueNextHour: number;
  dueNext24h: number;
  overdue: number;
  sentToday: number;
  gateFailuresToday: number;
  pendingEvents: number;
  deadLetters: number;
  lastRun: RunSummary | null;
}

/** How many of the latest acute-risk attempts the dashboard lists. */
const RECENT_ACUTE_ATTEMPTS = 20;

const acuteAttemptSchema = z.object({ uid: z.string(), slotId: z.string(), createdAt: z.number() });

/**
 * The dashboard's Safety panel: attempts assessed `acute` in the last 24 h and 7 days, and the
 * latest of the 7 days' (at most 20, newest first), each naming its user for the operator; the
 * alert posts counts only.
 */
export interface AcuteRiskOverview {
  last24h: number;
  last7d: number;
  recent: { uid: string; slotId: string; createdAt: number }[];
}

export interface DashboardStoreOptions {
  /** Told when storing the settled days' counts fails: the render goes on (see `dailyCounts`). */
  onStoreFailure?: (error: unknown) => void;
}

/** The aggregations behind the status route and the dashboard: counts, never document scans. */
export function createFirestoreDashboardStore(db: Firestore, { onStoreFailure }: DashboardStoreOptions = {}) {
  const users = db.collection(COLLECTIONS.users);
  const messages = db.collection(COLLECTIONS.coachingMessages);
  const events = db.collection(COLLECTIONS.events);
  const runs = db.collection(COLLECTIONS.schedulerRuns);
  const userCounts = () => readUserCounts(db);
  const dailyCountsDocument = db.collection(COLLECTIONS.systemState).doc(DAILY_COUNTS_DOCUMENT);

  /** What is due and the outbox: ranges of the next day's due times and the queue, counted now. */
  const dueAndOutboxCounts = async (now: number) => {
    const [dueNextHour, dueNext24h, overdue, pendingEvents, deadLetters] = await Promise.all([
      countMatching(users.where(DUE_FIELD, ">", now).where(DUE_FIELD, "<=", now + HOUR_MS)),
      countMatching(users.where(DUE_FIELD, ">", now).where(DUE_FIELD, "<=", now + DAY_MS)),
      countMatching(users.where(DUE_FIELD, "<=", now)),
      countMatching(events.where("status", "==", "pending")),
      countMatching(db.collection(COLLECTIONS.eventDeadLetters)),
    ]);
    return { dueNextHour, dueNext24h, overdue, pendingEvents, deadLetters };
  };

  /** Messages sent and gate failures (rejected attempts) from `start`, before `end` if given. */
  const countDay = async (start: number, end?: number): Promise<DayCounts> => {
    let sent = messages.where("wasSent", "==", true).where("sentAt", ">=", start);
    let rejected = messages.where("status", "==", "rejected").where("createdAt", ">=", start);
    if (end !== undefined) {
      sent = sent.where("sentAt", "<", end);
      rejected = rejected.where("createdAt", "<", end);
    }
    const [sentCount, gateFailures] = await Promise.all([countMatching(sent), countMatching(rejected)]);
    return { day: start, sent: sentCount, gateFailures };
  };

  /** The last `days` UTC days, oldest first; days that are over come from the stored figures. */
  const dailyCounts = async ({ now, days }: { now: number; days: number }): Promise<DayCounts[]> => {
    const today = new Date(now).setUTCHours(0, 0, 0, 0);
    const starts = Array.from({ length: days }, (_, index) => today - (days - 1 - index) * DAY_MS);
    const stored = storedDailyCounts.parse((await dailyCountsDocument.get()).data()).days;
    const settled = (start: number) => start + DAY_MS + SETTLED_AFTER_MS <= now;
    const counted = await Promise.all(
      starts.map(async (start) => {
        const known = settled(start) ? stored[String(start)] : null;
        return known
          ? { day: start, ...known, fresh: false }
          : { ...(await countDay(start, start + DAY_MS)), fresh: true };
      }),
    );
    if (counted.some((entry) => entry.fresh && settled(entry.day))) {
      // The window's settled days only: older ones fall out as the window moves on.
      const keep = Object.fromEntries(
        counted
          .filter((entry) => settled(entry.day))
          .map((entry) => [String(entry.day), { sent: entry.sent, gateFailures: entry.gateFailures }]),
      );
      // Best effort: the figures are counted already, and a failed write only means the next
      // render counts these days again. A GET page must not fail on its cache.
      await dailyCountsDocument.set({ days: keep, updatedAt: now }).catch((error: unknown) => {
        onStoreFailure?.(error);
      });
    }
    return counted.map(({ day, sent, gateFailures }) => ({ day, sent, gateFailures }));
  };

  /**
   * Sent messages per effectiveness rating (1-10) over the last `RATING_DAYS` UTC days, from the
   * engagement rollup's daily documents (14 reads, whatever the number of messages); counting
   * every kept message per rating on each render grew with users and history.
   */
  const ratingHistogram = async (now: number) => {
    const today = new Date(now).setUTCHours(0, 0, 0, 0);
    const days = await createFirestoreMetricsStore(db).readEngagement({
      from: today - (RATING_DAYS - 1) * DAY_MS,
      to: now + 1,
    });
    const { byRating } = mergeEngagement(days);
    return Array.from({ length: 10 }, (_, index) => ({
      rating: index + 1,
      count: byRating.find((row) => row.rating === index + 1)?.sent ?? 0,
    }));
  };

  /**
   * Generation attempts assessed `acute` (docs/generation.md "Safety") in the last 24 h and 7 days:
   * attempts, not users (a run that regenerated counts twice); the user pages name the users.
   */
  const acuteRiskCounts = async (now: number): Promise<AcuteRiskOverview> => {
    const acute = messages.where("riskLevel", "==", "acute");
    const acuteSince = (since: number) => countMatching(acute.where("createdAt", ">=", since));
    const [last24h, last7d, latest] = await Promise.all([
      acuteSince(now - DAY_MS),
      acuteSince(now - 7 * DAY_MS),
      // Bounded: at most RECENT_ACUTE_ATTEMPTS documents of three fields, never the text.
      acute
        .where("createdAt", ">=", now - 7 * DAY_MS)
        .orderBy("createdAt", "desc")
        .limit(RECENT_ACUTE_ATTEMPTS)
        .select("uid", "slotId", "createdAt")
        .get(),
    ]);
    const recent = latest.docs.flatMap((document) => {
      const parsed = acuteAttemptSchema.safeParse(document.data());
      return parsed.success ? [parsed.data] : [];
    });
    return { last24h, last7d, recent };
  };

  /** Users due in each of the next `hours` whole UTC hours, from the current one. */
  const duePerHour = ({ now, hours }: { now: number; hours: number }) => {
    const start = Math.floor(now / HOUR_MS) * HOUR_MS;
    return Promise.all(
      Array.from({ length: hours }, async (_, index) => {
        const from = start + index * HOUR_MS;
        return {
          hour: from,
          count: await countMatching(
            users.where(DUE_FIELD, ">=", from).where(DUE_FIELD, "<", from + HOUR_MS),
          ),
        };
      }),
    );
  };

  return {
    /**
     * The status route's figures: 7 count aggregations, the last run, and the users by status
     * from the latest rollup's snapshot (as the dashboard takes them: counting them live grew
     * with users), counted live only before the first rollup.
     */
    systemCounts: ({ now, startOfDay }: { now: number; startOfDay: number }): Promise<StatusCounts> =>
      firestoreCall("read system status", async () => {
        const [userFigures, dueAndOutbox, today, lastRun] = await Promise.all([
          userCounts(),
          dueAndOutboxCounts(now),
          countDay(startOfDay),
          runs.orderBy("startedAt", "desc").limit(1).get(),
        ]);
        const last = lastRun.docs[0];
        return {
          ...userFigures,
          ...dueAndOutbox,
          sentToday: today.sent,
          gateFailuresToday: today.gateFailures,
          lastRun: last ? parseRunSummary(last.id, last.data()) : null,
        };
      }),

    /**
     * Everything the dashboard shows, each figure read once: today's counts are the daily
     * chart's last day, the last run is the run list's first.
     */
    dashboard: ({
      now,
      days,
      hours,
      runCount,
    }: {
      now: number;
      days: number;
      hours: number;
      runCount: number;
    }) =>
      firestoreCall("read dashboard", async () => {
        const [userFigures, dueAndOutbox, daily, ratings, due, recentRuns, acuteRisk] = await Promise.all([
          userCounts(),
          dueAndOutboxCounts(now),
          dailyCounts({ now, days }),
          ratingHistogram(now),
          duePerHour({ now, hours }),
          createFirestoreRunsStore(db).listRuns({ limit: runCount }),
          acuteRiskCounts(now),
        ]);
        const today = daily.at(-1);
        const counts: StatusCounts = {
          ...userFigures,
          ...dueAndOutbox,
          sentToday: today?.sent ?? 0,
          gateFailuresToday: today?.gateFailures ?? 0,
          lastRun: recentRuns[0] ?? null,
        };
        return { counts, daily, ratings, duePerHour: due, runs: recentRuns, acuteRisk };
      }),
  };
}
