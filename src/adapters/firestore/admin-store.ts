import "server-only";
import type { Firestore, Query } from "firebase-admin/firestore";
import type { BreakerState } from "@/core/circuit-breaker";
import { isDocumentId } from "@/core/document-id";
import {
  type EventRecord,
  messageCreatedEventId,
  parseDeadLetterDocument,
  parseEventDocument,
} from "@/core/events";
import { normaliseProcessingState, type ProcessingState, type UserStatus } from "@/core/processing-state";
import { RETENTION_RULES, type RetentionRule, retentionCutoff } from "@/core/retention";
import { isValidTimezone } from "@/core/schedule";
import { isInstant, parseUserDocument, type UserSnapshot } from "@/core/user";
import type { SchedulerRunRecord } from "@/pipeline/ports";
import type { StoredMessage } from "@/pipeline/processor-ports";
import { COLLECTIONS, DUE_FIELD } from "./collections";
import { firestoreCall } from "./errors";
import { readLlmBreaker } from "./llm-breaker";

/** Deletes per batch: well under Firestore's 500 writes per commit. */
const DELETE_BATCH = 400;

/** How many documents `query` matches (an aggregation: one read per 1,000 matches). */
async function count(query: Query): Promise<number> {
  return (await query.count().get()).data().count;
}

/** Deletes everything `query` matches, a bounded batch at a time; returns how many. */
async function deleteMatching(
  db: Firestore,
  query: Query,
  maxDeletes = Number.POSITIVE_INFINITY,
): Promise<number> {
  let deleted = 0;
  while (deleted < maxDeletes) {
    const snapshot = await query.limit(Math.min(DELETE_BATCH, maxDeletes - deleted)).get();
    if (snapshot.empty) break;
    const batch = db.batch();
    for (const document of snapshot.docs) batch.delete(document.ref);
    await batch.commit();
    deleted += snapshot.size;
  }
  return deleted;
}

export interface UserListEntry {
  uid: string;
  status: UserStatus;
  phase: ProcessingState["phase"];
  stats: ProcessingState["stats"];
  consecutiveFailures: number;
  suspendUntil: number | null;
  updatedAt: number;
}

export interface CleanupReport {
  cutoff: number;
  deleted: Record<string, number>;
  total: number;
  hasMore: boolean;
}

export const USER_STATUSES: readonly UserStatus[] = ["waiting", "running", "suspended", "error"];

/** The operators' reads and writes: every admin query is here. */
export function createFirestoreAdminStore(db: Firestore) {
  const users = db.collection(COLLECTIONS.users);
  const states = db.collection(COLLECTIONS.userProcessingState);
  const messages = db.collection(COLLECTIONS.coachingMessages);
  const runs = db.collection(COLLECTIONS.schedulerRuns);
  const events = db.collection(COLLECTIONS.events);

  return {
    getUser: (uid: string): Promise<UserSnapshot | null> =>
      firestoreCall("read user", async () => {
        const snapshot = await users.doc(uid).get();
        return snapshot.exists ? parseUserDocument(uid, snapshot.data()) : null;
      }),

    getState: (uid: string): Promise<ProcessingState> =>
      firestoreCall("read processing state", async () => {
        const snapshot = await states.doc(uid).get();
        return normaliseProcessingState(uid, snapshot.data() as Partial<ProcessingState> | undefined);
      }),

    /** Users the engine has processed, by uid, `limit` after `afterUid`; keyset paging on a plain field. */
    listUserStates: ({
      afterUid,
      limit,
      status,
    }: {
      afterUid?: string;
      limit: number;
      status?: UserStatus;
    }) =>
      firestoreCall("list processing states", async () => {
        let query: Query = states;
        if (status) query = query.where("status", "==", status);
        if (afterUid) query = query.where("uid", ">", afterUid);
        const snapshot = await query.orderBy("uid").limit(limit).get();
        return snapshot.docs.map((document): UserListEntry => {
          const state = normaliseProcessingState(document.id, document.data() as Partial<ProcessingState>);
          return {
            uid: state.uid,
            status: state.status,
            phase: state.phase,
            stats: state.stats,
            consecutiveFailures: state.consecutiveFailures,
            suspendUntil: state.suspendUntil,
            updatedAt: state.updatedAt,
          };
        });
      }),

    listMessages: (uid: string, limit: number): Promise<StoredMessage[]> =>
      firestoreCall("list messages", async () => {
        const snapshot = await messages
          .where("uid", "==", uid)
          .orderBy("createdAt", "desc")
          .limit(limit)
          .get();
        return snapshot.docs.map((document) => document.data() as StoredMessage);
      }),

    saveState: (state: ProcessingState) =>
      firestoreCall("save processing state", async () => {
        await states.doc(state.uid).set(state);
      }),

    /** Suspension lives on the user document too, so the scheduler sees it in the documents it already reads. */
    setSuspension: ({
      uid,
      suspendUntil,
      nextCoachingMessageDue,
    }: {
      uid: string;
      suspendUntil: number | null;
      nextCoachingMessageDue?: number;
    }) =>
      firestoreCall("set suspension", async () => {
        await users.doc(uid).update({
          suspendUntil,
          ...(nextCoachingMessageDue === undefined ? {} : { [DUE_FIELD]: nextCoachingMessageDue }),
        });
      }),

    /**
     * Removes one user's coaching data: messages (and their delivery events), coaching journal
     * entries, slots and their leases, processing state; the schedule goes back to bootstrap.
     * Every query is scoped to this uid, so no other user's documents are touched.
     */
    clearUserData: (uid: string) =>
      firestoreCall("clear user data", async () => {
        const messageSnapshot = await messages.where("uid", "==", uid).get();
        const deliveryEvents = new Set(
          messageSnapshot.docs
            .map((document) => document.get("slotId") as string | undefined)
            .filter((slotId): slotId is string => typeof slotId === "string")
            .map((slotId) => messageCreatedEventId(slotId)),
        );
        let eventsDeleted = 0;
        const eventIds = [...deliveryEvents];
        for (let start = 0; start < eventIds.length; start += DELETE_BATCH) {
          const batch = db.batch();
          for (const eventId of eventIds.slice(start, start + DELETE_BATCH))
            batch.delete(events.doc(eventId));
          await batch.commit();
          eventsDeleted += Math.min(DELETE_BATCH, eventIds.length - start);
        }
        const deleted = {
          coachingMessages: await deleteMatching(db, messages.where("uid", "==", uid)),
          deliveryEvents: eventsDeleted,
          coachingJournalEntries: await deleteMatching(
            db,
            users.doc(uid).collection(COLLECTIONS.journalEntries).where("isCoachingMessage", "==", true),
          ),
          coachingSlots: await deleteMatching(
            db,
            db.collection(COLLECTIONS.coachingSlots).where("uid", "==", uid),
          ),
          coachingSlotLeases: await deleteMatching(
            db,
            db.collection(COLLECTIONS.coachingSlotLeases).where("uid", "==", uid),
          ),
          processingState: 0,
        };
        const state = await states.doc(uid).get();
        if (state.exists) {
          await states.doc(uid).delete();
          deleted.processingState = 1;
        }
        await users.doc(uid).update({ [DUE_FIELD]: null, suspendUntil: null });
        return deleted;
      }),

    /** Scheduler runs, newest first, `limit` started before `before`. */
    listRuns: ({ before, limit }: { before?: number; limit: number }) =>
      firestoreCall("list runs", async () => {
        let query: Query = runs;
        if (before !== undefined) query = query.where("startedAt", "<", before);
        const snapshot = await query.orderBy("startedAt", "desc").limit(limit).get();
        return snapshot.docs.map((document) => document.data() as SchedulerRunRecord);
      }),

    getBreaker: (): Promise<BreakerState | null> => readLlmBreaker(db),

    systemCounts: ({ now, startOfDay }: { now: number; startOfDay: number }) =>
      firestoreCall("read system status", async () => {
        const [
          usersTotal,
          byStatus,
          dueNextHour,
          dueNext24h,
          overdue,
          sentToday,
          gateFailuresToday,
          pendingEvents,
          deadLetters,
          lastRun,
        ] = await Promise.all([
          count(users),
          Promise.all(
            USER_STATUSES.map(
              async (status) => [status, await count(states.where("status", "==", status))] as const,
            ),
          ),
          count(users.where(DUE_FIELD, ">", now).where(DUE_FIELD, "<=", now + 3_600_000)),
          count(users.where(DUE_FIELD, ">", now).where(DUE_FIELD, "<=", now + 24 * 3_600_000)),
          count(users.where(DUE_FIELD, "<=", now)),
          count(messages.where("wasSent", "==", true).where("sentAt", ">=", startOfDay)),
          count(messages.where("status", "==", "rejected").where("createdAt", ">=", startOfDay)),
          count(events.where("status", "==", "pending")),
          count(db.collection(COLLECTIONS.eventDeadLetters)),
          runs.orderBy("startedAt", "desc").limit(1).get(),
        ]);
        return {
          usersTotal,
          usersByStatus: Object.fromEntries(byStatus) as Record<UserStatus, number>,
          dueNextHour,
          dueNext24h,
          overdue,
          sentToday,
          gateFailuresToday,
          pendingEvents,
          deadLetters,
          lastRun: (lastRun.docs[0]?.data() as SchedulerRunRecord | undefined) ?? null,
        };
      }),

    /**
     * Deletes what the retention rules (core/retention.ts) say has expired: per rule, documents
     * whose time field is before the rule's cutoff, by an indexed range query. At most
     * `maxDeletes` per run, shared fairly: each pass gives every rule that may have more an equal
     * share of what is left, so one large collection cannot starve the others. `hasMore` says the
     * next run has work. `cutoff` is the history cutoff (`historyDays` before `now`).
     */
    cleanup: ({
      now,
      historyDays,
      maxDeletes,
    }: {
      now: number;
      historyDays: number;
      maxDeletes: number;
    }): Promise<CleanupReport> =>
      firestoreCall("cleanup", async () => {
        const expired = (rule: RetentionRule): Query => {
          let query: Query = db.collection(rule.collection);
          if (rule.where) {
            const { field, op, value } = rule.where;
            query = query.where(field, op, typeof value === "string" ? value : [...value]);
          }
          return query.where(rule.timeField, "<", retentionCutoff(rule, { now, historyDays }));
        };
        const deleted: Record<string, number> = Object.fromEntries(
          RETENTION_RULES.map((rule) => [rule.name, 0]),
        );
        let total = 0;
        let mayHaveMore = [...RETENTION_RULES];
        while (mayHaveMore.length > 0 && total < maxDeletes) {
          const share = Math.max(1, Math.floor((maxDeletes - total) / mayHaveMore.length));
          const next: RetentionRule[] = [];
          for (const rule of mayHaveMore) {
            const budget = Math.min(share, maxDeletes - total);
            if (budget <= 0) {
              next.push(rule);
              continue;
            }
            const count = await deleteMatching(db, expired(rule), budget);
            deleted[rule.name] = (deleted[rule.name] ?? 0) + count;
            total += count;
            if (count === budget) next.push(rule);
          }
          mayHaveMore = next;
        }
        const cutoff = now - historyDays * 24 * 3_600_000;
        return { cutoff, deleted, total, hasMore: mayHaveMore.length > 0 };
      }),
  };
}

export type AdminStore = ReturnType<typeof createFirestoreAdminStore>;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface UserRow {
  uid: string;
  email: string;
  timezone: string | null;
  timePreference: string | null;
  frequency: string | null;
  enabled: boolean;
  nextCoachingMessageDue: number | null;
  status: UserStatus;
  lastMessageType: string | null;
  lastRating: number | null;
}

/** Reads for the admin pages: aggregates for the dashboard, the users table, events. */
export function createFirestoreAdminPagesStore(db: Firestore) {
  const users = db.collection(COLLECTIONS.users);
  const states = db.collection(COLLECTIONS.userProcessingState);
  const messages = db.collection(COLLECTIONS.coachingMessages);
  const events = db.collection(COLLECTIONS.events);

  const toRows = async (documents: FirebaseFirestore.QueryDocumentSnapshot[]): Promise<UserRow[]> => {
    if (documents.length === 0) return [];
    const stateSnapshots = await db.getAll(...documents.map((document) => states.doc(document.id)));
    const statusOf = new Map(
      stateSnapshots.map((snapshot) => [snapshot.id, snapshot.get("status") as UserStatus | undefined]),
    );
    return Promise.all(
      documents.map(async (document): Promise<UserRow> => {
        const data = document.data();
        const config = (data.coachingConfig ?? {}) as Record<string, unknown>;
        const last = await messages
          .where("uid", "==", document.id)
          .orderBy("createdAt", "desc")
          .limit(1)
          .get();
        const lastMessage = last.docs[0]?.data();
        return {
          uid: document.id,
          email: typeof data.email === "string" ? data.email : "",
          // Only a zone the runtime knows: the page formats times in it.
          timezone:
            typeof data.timezone === "string" && isValidTimezone(data.timezone) ? data.timezone : null,
          timePreference: typeof config.timePreference === "string" ? config.timePreference : null,
          frequency: typeof config.frequency === "string" ? config.frequency : null,
          enabled: config.enableCoachingMessages === true,
          nextCoachingMessageDue: isInstant(data[DUE_FIELD]) ? data[DUE_FIELD] : null,
          status: statusOf.get(document.id) ?? "waiting",
          lastMessageType: typeof lastMessage?.messageType === "string" ? lastMessage.messageType : null,
          lastRating:
            typeof lastMessage?.effectivenessRating === "number" ? lastMessage.effectivenessRating : null,
        };
      }),
    );
  };

  return {
    /** Sent messages and gate failures per UTC day, oldest first. */
    dailyCounts: ({ now, days }: { now: number; days: number }) =>
      firestoreCall("read daily counts", async () => {
        const today = new Date(now).setUTCHours(0, 0, 0, 0);
        return Promise.all(
          Array.from({ length: days }, async (_, index) => {
            const start = today - (days - 1 - index) * DAY_MS;
            const end = start + DAY_MS;
            const [sent, gateFailures] = await Promise.all([
              count(
                messages.where("wasSent", "==", true).where("sentAt", ">=", start).where("sentAt", "<", end),
              ),
              count(
                messages
                  .where("status", "==", "rejected")
                  .where("createdAt", ">=", start)
                  .where("createdAt", "<", end),
              ),
            ]);
            return { day: start, sent, gateFailures };
          }),
        );
      }),

    ratingHistogram: () =>
      firestoreCall("read rating histogram", async () =>
        Promise.all(
          Array.from({ length: 10 }, async (_, index) => ({
            rating: index + 1,
            count: await count(messages.where("effectivenessRating", "==", index + 1)),
          })),
        ),
      ),

    /** Users due in each of the next `hours` hours. */
    duePerHour: ({ now, hours }: { now: number; hours: number }) =>
      firestoreCall("read due per hour", async () => {
        const start = Math.floor(now / HOUR_MS) * HOUR_MS;
        return Promise.all(
          Array.from({ length: hours }, async (_, index) => {
            const from = start + index * HOUR_MS;
            return {
              hour: from,
              count: await count(users.where(DUE_FIELD, ">=", from).where(DUE_FIELD, "<", from + HOUR_MS)),
            };
          }),
        );
      }),

    /**
     * A page of the users table, by email. `query` matches a uid exactly or an email prefix.
     * Filters on the nested configuration are applied to what was read (Firestore indexes only
     * the top-level fields the engine queries), scanning at most `scanLimit` users per page.
     */
    listUsers: async ({
      query,
      after,
      limit,
      filters,
      scanLimit = 400,
    }: {
      query?: string;
      after?: string;
      limit: number;
      filters: { status?: UserStatus; timePreference?: string; frequency?: string };
      scanLimit?: number;
    }) =>
      firestoreCall("list users", async () => {
        // Only a string Firestore accepts as an id is looked up as one ("a/b" or "__x__" would throw).
        if (query && isDocumentId(query)) {
          const exact = await users.doc(query).get();
          if (exact.exists)
            return {
              rows: await toRows([exact as FirebaseFirestore.QueryDocumentSnapshot]),
              nextCursor: null,
            };
        }
        const rows: UserRow[] = [];
        let cursor = after;
        let scanned = 0;
        let exhausted = false;
        while (rows.length < limit && scanned < scanLimit) {
          let page: Query = users;
          if (query) page = page.where("email", ">=", query).where("email", "<", `${query}\uf8ff`);
          if (cursor) page = page.where("email", ">", cursor);
          const batchSize = Math.min(50, scanLimit - scanned);
          const snapshot = await page.orderBy("email").limit(batchSize).get();
          scanned += snapshot.size;
          const matching = (await toRows(snapshot.docs)).filter(
            (row) =>
              (!filters.status || row.status === filters.status) &&
              (!filters.timePreference || row.timePreference === filters.timePreference) &&
              (!filters.frequency || row.frequency === filters.frequency),
          );
          for (const row of matching) {
            if (rows.length < limit) rows.push(row);
          }
          const lastRead = snapshot.docs.at(-1)?.get("email") as string | undefined;
          const lastKept = rows.at(-1)?.email;
          cursor = rows.length >= limit ? lastKept : lastRead;
          if (snapshot.size < batchSize) {
            exhausted = true;
            break;
          }
        }
        return { rows, nextCursor: exhausted && rows.length < limit ? null : (cursor ?? null) };
      }),

    listJournal: (uid: string, limit: number) =>
      firestoreCall("read journal", async () => {
        const snapshot = await users
          .doc(uid)
          .collection(COLLECTIONS.journalEntries)
          .orderBy("createdAt", "desc")
          .limit(limit)
          .get();
        // Written by the app: each field is used only when it has the documented type.
        return snapshot.docs.map((document) => {
          const { title, content, createdAt } = document.data();
          return {
            id: document.id,
            title: typeof title === "string" ? title : null,
            content: typeof content === "string" ? content : "",
            createdAt: isInstant(createdAt) ? createdAt : null,
            isCoachingMessage: document.get("isCoachingMessage") === true,
          };
        });
      }),

    pendingEvents: (limit: number) =>
      firestoreCall("list pending events", async () => {
        const snapshot = await events
          .where("status", "==", "pending")
          .orderBy("created_at")
          .limit(limit)
          .get();
        // The app writes events too: parsed as the outbox parses them, so a field of another type
        // is replaced by its default instead of reaching the page.
        return snapshot.docs.map((document): EventRecord => parseEventDocument(document.id, document.data()));
      }),

    deadLetters: (limit: number) =>
      firestoreCall("list dead letters", async () => {
        const snapshot = await db
          .collection(COLLECTIONS.eventDeadLetters)
          .orderBy("created_at", "desc")
          .limit(limit)
          .get();
        return snapshot.docs.map((document) => parseDeadLetterDocument(document.id, document.data()));
      }),
  };
}
