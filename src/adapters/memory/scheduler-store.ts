/**
 * An in-memory twin of the Firestore scheduler store, with Firestore's semantics (documents
 * without a numeric due time never match a range; `in [null]` matches only an explicit null;
 * ties ordered by document id). It passes the same contract tests as the Firestore store, so
 * unit tests and large benchmarks exercise the real scheduling logic on it.
 */
import type { BreakerState } from "@/core/circuit-breaker";
import { parseUserDocument } from "@/core/user";
import type { SchedulerRunRecord, SchedulerStore } from "@/pipeline/ports";

export interface InMemoryDatabase {
  users: Map<string, Record<string, unknown>>;
  llmBreaker: BreakerState | null;
  schedulerRuns: Map<string, SchedulerRunRecord>;
  /** Documents returned and written, as Firestore would bill them. */
  counters: { documentsRead: number; documentsWritten: number };
}

export function createInMemoryDatabase(): InMemoryDatabase {
  return {
    users: new Map(),
    llmBreaker: null,
    schedulerRuns: new Map(),
    counters: { documentsRead: 0, documentsWritten: 0 },
  };
}

function dueOf(document: Record<string, unknown>): unknown {
  return document.nextCoachingMessageDue;
}

export function createInMemorySchedulerStore(database: InMemoryDatabase): SchedulerStore {
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
    async setNextDue(updates) {
      const failed: { uid: string; reason: string }[] = [];
      for (const { uid, nextCoachingMessageDue } of updates) {
        const document = database.users.get(uid);
        if (!document) {
          failed.push({ uid, reason: "NOT_FOUND: no entity to update" });
          continue;
        }
        document.nextCoachingMessageDue = nextCoachingMessageDue;
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
