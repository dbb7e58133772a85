/**
 * An in-memory twin of the Firestore scheduler store, with Firestore's semantics (documents
 * without a numeric due time never match a range; `in [null]` matches only an explicit null;
 * ties and the sweep ordered by document id). It passes the same contract tests as the
 * Firestore store, so unit tests and large benchmarks exercise the real scheduling logic on it.
 */
import type { BreakerState } from "@/core/circuit-breaker";
import type { SlotRecord } from "@/core/due-slot";
import { parseUserDocument } from "@/core/user";
import type { SchedulerRunRecord, SchedulerStore, SweepState } from "@/pipeline/ports";

export interface InMemoryDatabase {
  users: Map<string, Record<string, unknown>>;
  llmBreaker: BreakerState | null;
  schedulerRuns: Map<string, SchedulerRunRecord>;
  /** `systemState/unscheduledSweep`. */
  unscheduledSweep: SweepState | null;
  /** Documents returned and written, as Firestore would bill them. */
  counters: { documentsRead: number; documentsWritten: number };
}

export function createInMemoryDatabase(): InMemoryDatabase {
  return {
    users: new Map(),
    llmBreaker: null,
    schedulerRuns: new Map(),
    unscheduledSweep: null,
    counters: { documentsRead: 0, documentsWritten: 0 },
  };
}

function dueOf(document: Record<string, unknown>): unknown {
  return document.nextCoachingMessageDue;
}

/** Firestore bills a count aggregation one read per 1,000 index entries, at least one. */
const billedCountReads = (count: number) => Math.max(1, Math.ceil(count / 1_000));

/**
 * `slots` is the processor's slot map (`InMemoryProcessorData.slots`) when the processor runs on
 * the same database, so the scheduler sees the slots the processor left open.
 */
export function createInMemorySchedulerStore(
  database: InMemoryDatabase,
  { slots = new Map() }: { slots?: ReadonlyMap<string, Pick<SlotRecord, "status">> } = {},
): SchedulerStore {
  const select = (predicate: (due: unknown) => boolean, limit: number, ordered: boolean) => {
    const matches = [...database.users.entries()].filter(([, document]) => predicate(dueOf(document)));
    if (ordered) {
      matches.sort(
        ([uidA, a], [uidB, b]) => (dueOf(a) as number) - (dueOf(b) as number) || (uidA < uidB ? -1 : 1),
      );
    }
    const page = matches.slice(0, limit);
    database.counters.documentsRead += page.length;
    return page.map(([uid, document]) => parseUserDocument(uid, structuredClone(document)));
  };

  return {
    async getDueUsers({ now, after, limit }) {
      return select(
        (due) => typeof due === "number" && due <= now && (after === undefined || due > after),
        limit,
        true,
      );
    },
    async getUsersDueAt({ at, limit }) {
      return select((due) => due === at, limit, false);
    },
    async getUnscheduledUsers({ limit }) {
      return select((due) => due === null, limit, false);
    },
    async sweepUsers({ after, limit }) {
      const page = [...database.users.keys()]
        .filter((uid) => after === null || uid > after)
        .sort()
        .slice(0, limit);
      const unscheduled = page.flatMap((uid) => {
        const { nextCoachingMessageDue: due, ...rest } = structuredClone(database.users.get(uid) ?? {});
        if (Number.isFinite(due)) return [];
        return [parseUserDocument(uid, due === null ? { ...rest, nextCoachingMessageDue: null } : rest)];
      });
      // As on Firestore: the scan, then each user to fix read whole.
      const documentsRead = page.length + unscheduled.length;
      database.counters.documentsRead += documentsRead;
      return { scanned: page.length, lastUid: page.at(-1) ?? null, unscheduled, documentsRead };
    },
    async getSweepState() {
      database.counters.documentsRead += 1;
      return database.unscheduledSweep ? { ...database.unscheduledSweep } : null;
    },
    async saveSweepState(state) {
      database.unscheduledSweep = { ...state };
      database.counters.documentsWritten += 1;
    },
    async countUsers() {
      const total = database.users.size;
      const withDueTime = [...database.users.values()].filter((document) =>
        Number.isFinite(dueOf(document)),
      ).length;
      return {
        total,
        withoutDueTime: total - withDueTime,
        billedReads: billedCountReads(total) + billedCountReads(withDueTime),
      };
    },
    async getOpenSlots(slotIds) {
      database.counters.documentsRead += slotIds.length;
      return new Set(
        slotIds.filter((slotId) => slots.has(slotId) && slots.get(slotId)?.status !== "completed"),
      );
    },
    async setNextDue(updates) {
      const failed: { uid: string; reason: string }[] = [];
      for (const { uid, nextCoachingMessageDue, parked } of updates) {
        const document = database.users.get(uid);
        if (!document) {
          failed.push({ uid, reason: "NOT_FOUND: no entity to update" });
          continue;
        }
        document.nextCoachingMessageDue = nextCoachingMessageDue;
        if (parked) document.coachingParkedUntil = nextCoachingMessageDue;
        database.counters.documentsWritten += 1;
      }
      return { failed };
    },
    async saveRun(run) {
      database.schedulerRuns.set(run.runId, structuredClone(run));
      database.counters.documentsWritten += 1;
    },
    async getLlmBreaker() {
      return database.llmBreaker ? structuredClone(database.llmBreaker) : null;
    },
  };
}
