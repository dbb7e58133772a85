/**
 * An in-memory twin of the Firestore scheduler store, with Firestore's semantics (documents
 * without a numeric due time never match a range; `in [null]` matches only an explicit null;
 * an order on the rank leaves out documents without a numeric rank, as real Firestore does;
 * ties and the sweep ordered by document id). It passes the same contract tests as the
 * Firestore store, so unit tests and large benchmarks exercise the real scheduling logic on it.
 */
import type { BreakerState } from "@/core/circuit-breaker";
import { dueRank } from "@/core/due-rank";
import type { SlotRecord } from "@/core/due-slot";
import { isInstant, parseUserDocument } from "@/core/user";
import type { SchedulerRunRecord } from "@/pipeline/scheduler-run-record";
import type {
  ChainStepRecord,
  DueSlotState,
  SchedulerStore,
  SweepState,
} from "@/pipeline/scheduler-store-ports";

export interface InMemoryDatabase {
  users: Map<string, Record<string, unknown>>;
  llmBreaker: BreakerState | null;
  schedulerRuns: Map<string, SchedulerRunRecord>;
  /** `schedulerChainSteps`, by `${chainId}_${step}_${attempt}`. */
  schedulerChainSteps: Map<string, ChainStepRecord>;
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
    schedulerChainSteps: new Map(),
    unscheduledSweep: null,
    counters: { documentsRead: 0, documentsWritten: 0 },
  };
}

function dueOf(document: Record<string, unknown>): unknown {
  return document.nextCoachingMessageDue;
}

function rankOf(document: Record<string, unknown>): number | undefined {
  const rank = document.coachingDueRank;
  return typeof rank === "number" && Number.isFinite(rank) ? rank : undefined;
}

const chainStepId = ({ chainId, step, attempt }: { chainId: string; step: number; attempt: number }) =>
  `${chainId}_${step}_${attempt}`;

/** Firestore bills a count aggregation one read per 1,000 index entries, at least one. */
const billedCountReads = (count: number) => Math.max(1, Math.ceil(count / 1_000));

/**
 * `slots` is the processor's slot map (`InMemoryProcessorData.slots`) when the processor runs on
 * the same database, so the scheduler sees the slots the processor left open.
 */
export function createInMemorySchedulerStore(
  database: InMemoryDatabase,
  {
    slots = new Map(),
  }: {
    slots?: ReadonlyMap<
      string,
      Pick<SlotRecord, "status"> & Partial<Pick<SlotRecord, "nextCoachingMessageDue">>
    >;
  } = {},
): SchedulerStore {
  const select = (predicate: (due: unknown) => boolean, limit: number) => {
    const matches = [...database.users.entries()].filter(([, document]) => predicate(dueOf(document)));
    const page = matches.slice(0, limit);
    database.counters.documentsRead += page.length;
    return page.map(([uid, document]) => parseUserDocument(uid, structuredClone(document)));
  };

  const isDue = (document: Record<string, unknown>, now: number) => {
    const due = dueOf(document);
    return typeof due === "number" && Number.isFinite(due) && due <= now;
  };

  return {
    async getDueUsers({ now, after, limit }) {
      const matches = [...database.users.entries()].flatMap(([uid, document]) => {
        const rank = rankOf(document);
        if (rank === undefined || !isDue(document, now)) return [];
        const due = dueOf(document) as number;
        const isAfter = !after || due > after.due || (due === after.due && rank > after.rank);
        return isAfter ? [{ uid, document, due, rank }] : [];
      });
      matches.sort((a, b) => a.due - b.due || a.rank - b.rank || (a.uid < b.uid ? -1 : 1));
      const page = matches.slice(0, limit);
      database.counters.documentsRead += page.length;
      return page.map(({ uid, document }) => parseUserDocument(uid, structuredClone(document)));
    },
    async countDueUsers({ now }) {
      const due = [...database.users.values()].filter((document) => isDue(document, now));
      const ranked = due.filter((document) => rankOf(document) !== undefined).length;
      return {
        due: due.length,
        ranked,
        billedReads: billedCountReads(due.length) + billedCountReads(ranked),
      };
    },
    async scanUnrankedDueUsers({ now, after, limit }) {
      const page = [...database.users.entries()]
        .filter(([, document]) => isDue(document, now))
        .map(([uid, document]) => ({
          uid,
          due: dueOf(document) as number,
          ranked: rankOf(document) !== undefined,
        }))
        .filter(({ uid, due }) => !after || due > after.due || (due === after.due && uid > after.uid))
        .sort((a, b) => a.due - b.due || (a.uid < b.uid ? -1 : 1))
        .slice(0, limit);
      database.counters.documentsRead += page.length;
      const last = page.at(-1);
      return {
        scanned: page.length,
        last: last ? { due: last.due, uid: last.uid } : null,
        unranked: page.filter(({ ranked }) => !ranked).map(({ uid, due }) => ({ uid, due })),
        documentsRead: page.length,
      };
    },
    async setDueRanks(users) {
      const failed: { uid: string; reason: string }[] = [];
      for (const { uid, due } of users) {
        const document = database.users.get(uid);
        if (!document) {
          failed.push({ uid, reason: "NOT_FOUND: no entity to update" });
          continue;
        }
        document.coachingDueRank = dueRank({ uid, dueAt: due });
        database.counters.documentsWritten += 1;
      }
      return { failed };
    },
    async createChainStep(step) {
      const id = chainStepId(step);
      if (database.schedulerChainSteps.has(id)) return "exists";
      database.schedulerChainSteps.set(id, { ...step });
      database.counters.documentsWritten += 1;
      return "created";
    },
    async getChainStep(query) {
      database.counters.documentsRead += 1;
      const step = database.schedulerChainSteps.get(chainStepId(query));
      return step ? { ...step } : null;
    },
    async completeChainStep(query) {
      const step = database.schedulerChainSteps.get(chainStepId(query));
      if (step) step.status = "completed";
      database.counters.documentsWritten += 1;
    },
    async getUnscheduledUsers({ limit }) {
      return select((due) => due === null, limit);
    },
    async sweepUsers({ after, limit }) {
      const page = [...database.users.keys()]
        .filter((uid) => after === null || uid > after)
        .sort()
        .slice(0, limit);
      const unscheduled = page.flatMap((uid) => {
        const { nextCoachingMessageDue: due, ...rest } = structuredClone(database.users.get(uid) ?? {});
        if (isInstant(due)) return [];
        return [parseUserDocument(uid, due === null ? { ...rest, nextCoachingMessageDue: null } : rest)];
      });
      // As on Firestore: the scan, then each user to fix read whole.
      const documentsRead = page.length + unscheduled.length;
      database.counters.documentsRead += documentsRead;
      return { scanned: page.length, lastUid: page.at(-1) ?? null, unscheduled, documentsRead };
    },
    async getSweepState() {
      database.counters.documentsRead += 1;
      return database.unscheduledSweep ? structuredClone(database.unscheduledSweep) : null;
    },
    async saveSweepState(state) {
      database.unscheduledSweep = structuredClone(state);
      database.counters.documentsWritten += 1;
    },
    async countUsers() {
      const total = database.users.size;
      const withDueTime = [...database.users.values()].filter((document) =>
        isInstant(dueOf(document)),
      ).length;
      return {
        total,
        withoutDueTime: total - withDueTime,
        billedReads: billedCountReads(total) + billedCountReads(withDueTime),
      };
    },
    async getDueSlots(slotIds) {
      database.counters.documentsRead += slotIds.length;
      const found = new Map<string, DueSlotState>();
      for (const slotId of slotIds) {
        const slot = slots.get(slotId);
        if (!slot) continue;
        const recorded = slot.nextCoachingMessageDue;
        found.set(slotId, {
          open: slot.status !== "completed",
          nextCoachingMessageDue: isInstant(recorded) ? recorded : null,
        });
      }
      return found;
    },
    async setNextDue(updates) {
      const failed: { uid: string; reason: string }[] = [];
      for (const { uid, nextCoachingMessageDue, parked, missedWindows, coachingEnabled } of updates) {
        const document = database.users.get(uid);
        if (!document) {
          failed.push({ uid, reason: "NOT_FOUND: no entity to update" });
          continue;
        }
        document.nextCoachingMessageDue = nextCoachingMessageDue;
        document.coachingDueRank = dueRank({ uid, dueAt: nextCoachingMessageDue, missedWindows });
        if (parked) document.coachingParkedUntil = nextCoachingMessageDue;
        if (coachingEnabled !== undefined) document.coachingEnabled = coachingEnabled;
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
