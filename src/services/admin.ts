import "server-only";
import { createFirestoreDashboardStore, type StatusCounts } from "@/adapters/firestore/admin/dashboard-store";
import { createFirestoreEventsPageStore } from "@/adapters/firestore/admin/events-page-store";
import { createFirestoreRunsStore } from "@/adapters/firestore/admin/runs-store";
import { createFirestoreUserAdminStore } from "@/adapters/firestore/admin/user-admin-store";
import { createFirestoreUsersTableStore } from "@/adapters/firestore/admin/users-table-store";
import { getDb } from "@/adapters/firestore/client";
import { readLlmBreakerStatus, resetLlmBreaker } from "@/adapters/firestore/llm-breaker";
import { createFirestoreLlmCeiling } from "@/adapters/firestore/llm-ceiling";
import { runRetentionCleanup } from "@/adapters/firestore/retention-cleanup";
import { createFirestoreUserKeyStore } from "@/adapters/firestore/user-key-store";
import type { AppConfig } from "@/config";
import { deliveryCounts } from "@/core/delivery-counts";
import { AppError } from "@/core/errors";
import { SCHEDULER_STALE_AFTER_MS } from "@/core/liveness";
import { minuteStartOf } from "@/core/llm-ceiling";
import type { UserStatus } from "@/core/processing-state";
import { localDateTime } from "@/core/schedule";
import { resumedByOperator, suspendedByOperator } from "@/core/suspension";
import { logger } from "@/logger";

/** A scheduler run older than this means the hourly cron has stopped (the same rule as `GET /api/health`). */
export const STALE_RUN_MS = SCHEDULER_STALE_AFTER_MS;

function adminStore(config: AppConfig) {
  return createFirestoreUserAdminStore(getDb(config));
}

async function requireUser(store: ReturnType<typeof adminStore>, uid: string) {
  const snapshot = await store.getUser(uid);
  if (!snapshot) throw new AppError("not_found:user", `user ${uid} not found`);
  return snapshot;
}

export async function listUsers(
  config: AppConfig,
  { after, limit, status }: { after?: string; limit: number; status?: UserStatus },
) {
  const users = await adminStore(config).listUserStates({ afterUid: after, limit, status });
  return { users, nextCursor: users.length === limit ? (users.at(-1)?.uid ?? null) : null };
}

/** One user: configuration, schedule, processing state with history and errors, recent messages. */
export async function userDetail(config: AppConfig, uid: string, now: number) {
  const store = adminStore(config);
  const snapshot = await requireUser(store, uid);
  const [state, messages, ownKey] = await Promise.all([
    store.getState(uid),
    store.listMessages(uid, 20),
    config.ownKeyEncryption
      ? createFirestoreUserKeyStore(getDb(config), config.ownKeyEncryption).getSummary(uid)
      : null,
  ]);
  return {
    userId: uid,
    valid: snapshot.valid,
    email: snapshot.valid ? snapshot.user.email : null,
    displayName: snapshot.valid ? (snapshot.user.displayName ?? null) : null,
    timezone: snapshot.valid ? snapshot.user.timezone : null,
    localDateTime: snapshot.valid ? localDateTime({ at: now, timezone: snapshot.user.timezone }) : null,
    coachingConfig: snapshot.valid ? snapshot.user.coachingConfig : null,
    problem: snapshot.valid ? null : snapshot.problem,
    nextCoachingMessageDue: snapshot.nextCoachingMessageDue ?? null,
    /** The user's own key: its last four characters and status only. */
    ownKey: ownKey ? { last4: ownKey.last4, status: ownKey.status, statusReason: ownKey.statusReason } : null,
    state,
    /** Emails and pushes the outbox sent this user: totals, the last times, today's (UTC) counts. */
    deliveries: deliveryCounts(state, now),
    messages: messages.map((message) => ({
      id: message.id,
      createdAt: message.createdAt,
      status: message.status,
      wasSent: message.wasSent,
      messageType: message.messageType,
      messageContent: message.messageContent,
      effectivenessRating: message.effectivenessRating,
      recommendedAction: message.recommendedAction,
      failureReason: message.failureReason,
      journalEntryId: message.journalEntryId,
      contextUsed: message.contextUsed,
      tokenUsage: message.tokenUsage,
      delivery: message.delivery,
      traceId: message.traceId,
      riskLevel: message.riskLevel,
      riskReason: message.riskReason,
    })),
  };
}

export async function clearUser(config: AppConfig, uid: string) {
  const store = adminStore(config);
  await requireUser(store, uid);
  const deleted = await store.clearUserData(uid);
  logger.info("user data cleared", { uid, ...deleted });
  return { userId: uid, deleted, nextCoachingMessageDue: null };
}

/** Suspends a user until `until`; the scheduler parks them and the processor refuses them until then. */
export async function suspendUser(
  config: AppConfig,
  { uid, until, reason, now }: { uid: string; until: number; reason: string; now: number },
) {
  const store = adminStore(config);
  await requireUser(store, uid);
  const state = await store.getState(uid);
  await store.setSuspension({ uid, suspendUntil: until, nextCoachingMessageDue: until });
  const suspended = suspendedByOperator(state, { until, reason, now });
  await store.saveOperatorChange(uid, {
    status: suspended.status,
    suspendUntil: suspended.suspendUntil,
    suspendReason: suspended.suspendReason,
    actionHistory: suspended.actionHistory,
    updatedAt: suspended.updatedAt,
  });
  return { userId: uid, status: "suspended" as const, suspendUntil: until, suspendReason: reason };
}

/** Lifts a suspension; the user is due at once (the scheduler still applies the time window). */
export async function resumeUser(config: AppConfig, { uid, now }: { uid: string; now: number }) {
  const store = adminStore(config);
  await requireUser(store, uid);
  const state = await store.getState(uid);
  await store.setSuspension({ uid, suspendUntil: null, nextCoachingMessageDue: now });
  const resumed = resumedByOperator(state, now);
  await store.saveOperatorChange(uid, {
    status: resumed.status,
    suspendUntil: resumed.suspendUntil,
    suspendReason: resumed.suspendReason,
    consecutiveFailures: resumed.consecutiveFailures,
    actionHistory: resumed.actionHistory,
    updatedAt: resumed.updatedAt,
  });
  return { userId: uid, status: "waiting" as const, nextCoachingMessageDue: now };
}

export async function listRuns(config: AppConfig, { before, limit }: { before?: number; limit: number }) {
  const runs = await createFirestoreRunsStore(getDb(config)).listRuns({ before, limit });
  return { runs, nextCursor: runs.length === limit ? (runs.at(-1)?.startedAt ?? null) : null };
}

/** Users by status, what is due, today's sends and gate failures, the outbox, the last run, the breaker. */
export async function systemStatus(config: AppConfig, now: number) {
  const startOfDay = new Date(now).setUTCHours(0, 0, 0, 0);
  const [counts, llmBreaker] = await Promise.all([
    createFirestoreDashboardStore(getDb(config)).systemCounts({ now, startOfDay }),
    llmBreakerStatus(config, now),
  ]);
  return statusView({ now, startOfDay, counts, llmBreaker });
}

/** A users-by-status snapshot older than this means the metrics rollup has stopped. */
const USERS_SNAPSHOT_STALE_MS = 2 * 3_600_000;

function statusView({
  now,
  startOfDay,
  counts,
  llmBreaker,
}: {
  now: number;
  startOfDay: number;
  counts: StatusCounts;
  llmBreaker: Awaited<ReturnType<typeof llmBreakerStatus>>;
}) {
  const lastRunAgeMs = counts.lastRun ? now - counts.lastRun.startedAt : null;
  return {
    now,
    usersByStatus: counts.usersByStatus,
    /** When the users were counted: the latest metrics rollup's snapshot, or null when counted live. */
    usersAsOf: counts.usersAsOf,
    // The rollup runs every few minutes beside the outbox drain: older than 2 h, it has stopped.
    // Also stale: the rollup runs but has stored no snapshot for a day (the users were counted live).
    usersStale:
      counts.snapshotsFailing ||
      (counts.usersAsOf !== null && now - counts.usersAsOf > USERS_SNAPSHOT_STALE_MS),
    /** Users with no processing state yet (never processed): effectively waiting. */
    usersNeverProcessed: Math.max(
      0,
      counts.usersTotal - Object.values(counts.usersByStatus).reduce((total, value) => total + value, 0),
    ),
    due: { overdue: counts.overdue, nextHour: counts.dueNextHour, next24Hours: counts.dueNext24h },
    today: { since: startOfDay, messagesSent: counts.sentToday, gateFailures: counts.gateFailuresToday },
    events: { pending: counts.pendingEvents, deadLetters: counts.deadLetters },
    lastRun: counts.lastRun
      ? {
          runId: counts.lastRun.runId,
          status: counts.lastRun.status,
          startedAt: counts.lastRun.startedAt,
          ageMs: lastRunAgeMs,
          results: counts.lastRun.results,
        }
      : null,
    schedulerStale: lastRunAgeMs === null || lastRunAgeMs > STALE_RUN_MS,
    llmBreaker,
  };
}

/** The LLM breaker: open or not, since when, why, and when the next probe call may go out. */
export function llmBreakerStatus(config: AppConfig, now: number) {
  return readLlmBreakerStatus(getDb(config), config.processor.breaker, now);
}

/** An operator closes the LLM breaker (failure count 0): the next run calls the LLM. */
export async function resetBreaker(config: AppConfig, now: number) {
  const before = await llmBreakerStatus(config, now);
  await resetLlmBreaker(getDb(config));
  logger.info("LLM breaker reset by an admin", {
    wasState: before.state,
    openedAt: before.openedAt,
    consecutiveFailures: before.consecutiveFailures,
  });
  return llmBreakerStatus(config, now);
}

export async function runCleanup(config: AppConfig, now: number) {
  const report = await runRetentionCleanup(getDb(config), {
    now,
    historyDays: config.cleanup.retentionMs / (24 * 3_600_000),
    maxDeletes: config.cleanup.maxDeletes,
  });
  logger.info("cleanup run", { ...report.deleted, total: report.total, hasMore: report.hasMore });
  return report;
}

/** Everything the dashboard shows; each figure is read once (test/services/admin-page-reads.test.ts counts them). */
export async function dashboardData(config: AppConfig, now: number) {
  const startOfDay = new Date(now).setUTCHours(0, 0, 0, 0);
  const [{ counts, daily, ratings, duePerHour, runs, acuteRisk }, llmBreaker] = await Promise.all([
    createFirestoreDashboardStore(getDb(config), {
      onStoreFailure: (error) => logger.warn("storing the dashboard's daily counts failed", { error }),
    }).dashboard({ now, days: 14, hours: 24, runCount: 8 }),
    llmBreakerStatus(config, now),
  ]);
  return {
    status: statusView({ now, startOfDay, counts, llmBreaker }),
    daily,
    ratings,
    duePerHour,
    runs,
    acuteRisk,
  };
}

/**
 * The global LLM ceiling's use per UTC minute over the last hour (the current minute included),
 * oldest first; null when `LLM_CALLS_PER_MINUTE` is unset. One range query: `ceil(limit / 50)`
 * shard documents a minute (60 reads at a limit of 50, 3,600 at 3,000), never more than 3,600 a
 * render: above 3,000 a minute it shows the latest minutes that fit (core/llm-ceiling.ts).
 */
export async function llmCeilingUsage(config: AppConfig, now: number) {
  if (!config.llmCeiling) return null;
  const ceiling = createFirestoreLlmCeiling(getDb(config), config.llmCeiling);
  const minutes = await ceiling.ceilingUsage({ from: minuteStartOf(now) - 59 * 60_000, to: now + 1 });
  return { callsPerMinute: config.llmCeiling.callsPerMinute, minutes };
}

export async function usersTable(
  config: AppConfig,
  input: { query?: string; after?: string; status?: UserStatus; timePreference?: string; frequency?: string },
) {
  return createFirestoreUsersTableStore(getDb(config)).listUsers({
    query: input.query,
    after: input.after,
    limit: 25,
    filters: { status: input.status, timePreference: input.timePreference, frequency: input.frequency },
  });
}

export async function userJournal(config: AppConfig, uid: string) {
  return createFirestoreUsersTableStore(getDb(config)).listJournal(uid, 20);
}

export async function eventsOverview(config: AppConfig) {
  const store = createFirestoreEventsPageStore(getDb(config));
  const [pending, deadLetters] = await Promise.all([store.pendingEvents(50), store.deadLetters(50)]);
  return {
    pending: pending.filter((event) => event.attempts === 0),
    failing: pending.filter((event) => event.attempts > 0),
    deadLetters,
  };
}
