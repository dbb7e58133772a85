/**
 * An in-memory SchedulerStore for the capacity simulator, with the semantics of the Firestore
 * store (it runs the same contract tests: test/adapters/indexed-scheduler-store.test.ts) but an
 * index on (due time, rank), so a page of due users costs O(log n + page) instead of the full
 * scan and sort per query of src/adapters/memory/scheduler-store.ts, which is O(users) per page
 * and too slow at 1,000,000 users.
 *
 * The index on (due time, rank) is ranked-due-index.ts; an index entry is live while its version
 * is the user's current one, raised on every write. Users due without a numeric rank (rare:
 * documents the journaling app wrote) are kept in a map and scanned in full when asked for.
 */
import type { BreakerState } from "@/core/circuit-breaker";
import { dueRank } from "@/core/due-rank";
import { isInstant, parseUserDocument, type UserSnapshot } from "@/core/user";
import type { SchedulerRunRecord } from "@/pipeline/scheduler-run-record";
import type {
  ChainStepRecord,
  DueCursor,
  DueSlotState,
  SchedulerStore,
  ScheduleUpdate,
  SweepState,
  UnrankedDueUser,
} from "@/pipeline/scheduler-store-ports";
import { firstIndex, type IndexEntry, RankedDueIndex } from "./ranked-due-index";

interface UserRecord {
  document: Record<string, unknown>;
  /** Raised on every write of the due time or rank; index entries of older versions are stale. */
  version: number;
}

type Failures = { failed: { uid: string; reason: string }[] };

/** Run summaries kept for reading back; a long simulation saves thousands. */
const KEPT_RUNS = 50;
const NOT_FOUND = "NOT_FOUND: no entity to update";

const finite = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);

/** Firestore bills a count aggregation one read per 1,000 index entries, at least one. */
const billedCountReads = (count: number) => Math.max(1, Math.ceil(count / 1_000));

const chainStepId = ({ chainId, step, attempt }: { chainId: string; step: number; attempt: number }) =>
  `${chainId}_${step}_${attempt}`;

export interface IndexedSchedulerStoreOptions {
  /** Whether a due slot (`${uid}_${dueAt}`) is open (a run in progress or an approved message). */
  isSlotOpen?: (slotId: string) => boolean;
}

export class IndexedSchedulerStore implements SchedulerStore {
  /** Documents returned and written, as Firestore would bill them. */
  readonly counters = { documentsRead: 0, documentsWritten: 0 };
  readonly runs = new Map<string, SchedulerRunRecord>();
  readonly chainSteps = new Map<string, ChainStepRecord>();
  llmBreaker: BreakerState | null = null;
  private readonly users = new Map<string, UserRecord>();
  private readonly index = new RankedDueIndex(
    (entry) => this.users.get(entry.uid)?.version === entry.version,
  );
  /** Users with a finite due time and no numeric rank, by id: their due time. */
  private readonly unranked = new Map<string, number>();
  private readonly unscheduled = new Set<string>();
  private withoutDueTime = 0;
  private sortedUids: string[] | null = null;
  private sweepState: SweepState | null = null;
  private readonly slots = new Map<string, boolean>();
  /** Completed slots by id: the next due time each recorded (null when none). */
  private readonly completedSlots = new Map<string, number | null>();
  private readonly isSlotOpen: (slotId: string) => boolean;

  constructor(options: IndexedSchedulerStoreOptions = {}) {
    this.isSlotOpen = options.isSlotOpen ?? ((slotId) => this.slots.get(slotId) === true);
  }

  /** Creates or replaces a user document, as the journaling app writes it. */
  putUser(uid: string, document: Record<string, unknown>): void {
    const previous = this.users.get(uid);
    if (previous) this.unindexUser(uid, previous);
    else this.sortedUids = null;
    const record = { document, version: (previous?.version ?? 0) + 1 };
    this.users.set(uid, record);
    this.indexUser(uid, record);
  }

  readUser(uid: string): Record<string, unknown> | undefined {
    return this.users.get(uid)?.document;
  }

  /**
   * Records a processor slot by status (for stores used without `isSlotOpen`), and for a
   * completed one the next due time its completion recorded.
   */
  putSlot(slotId: string, status: string, nextCoachingMessageDue: unknown = null): void {
    this.slots.set(slotId, status !== "completed");
    if (status === "completed") {
      this.completedSlots.set(slotId, isInstant(nextCoachingMessageDue) ? nextCoachingMessageDue : null);
    }
  }

  private indexUser(uid: string, record: UserRecord): void {
    const { nextCoachingMessageDue: due, coachingDueRank: rank } = record.document;
    if (!isInstant(due)) {
      this.withoutDueTime += 1;
      if (due === null) this.unscheduled.add(uid);
      return;
    }
    if (!finite(rank)) {
      this.unranked.set(uid, due);
      return;
    }
    this.index.add({ due, rank, uid, version: record.version });
  }

  private unindexUser(uid: string, record: UserRecord): void {
    const { nextCoachingMessageDue: due, coachingDueRank: rank } = record.document;
    if (!isInstant(due)) {
      this.withoutDueTime -= 1;
      this.unscheduled.delete(uid);
    } else if (!finite(rank)) {
      this.unranked.delete(uid);
    } else {
      this.index.remove(due);
    }
  }

  /** Changes top-level fields of a user's document, keeping the index in step. */
  private update(uid: string, fields: Record<string, unknown>): boolean {
    const record = this.users.get(uid);
    if (!record) return false;
    this.unindexUser(uid, record);
    Object.assign(record.document, fields);
    record.version += 1;
    this.indexUser(uid, record);
    this.counters.documentsWritten += 1;
    return true;
  }

  private snapshot(uid: string): UserSnapshot {
    const record = this.users.get(uid);
    return parseUserDocument(uid, record ? { ...record.document } : {});
  }

  async getDueUsers({ now, after, limit }: { now: number; after?: DueCursor; limit: number }) {
    const page: UserSnapshot[] = [];
    const isAfter = (entry: IndexEntry) =>
      !after || entry.due > after.due || (entry.due === after.due && entry.rank > after.rank);
    for (const entries of this.index.entriesBetween(after?.due ?? Number.NEGATIVE_INFINITY, now)) {
      for (let position = firstIndex(entries, isAfter); position < entries.length; position += 1) {
        const entry = entries[position] as IndexEntry;
        if (entry.due > now || page.length >= limit) break;
        if (this.index.isLive(entry)) page.push(this.snapshot(entry.uid));
      }
      if (page.length >= limit) break;
    }
    this.counters.documentsRead += page.length;
    return page;
  }

  async countDueUsers({ now }: { now: number }) {
    const ranked = this.index.countUpTo(now);
    let due = ranked;
    for (const unrankedDue of this.unranked.values()) if (unrankedDue <= now) due += 1;
    return { due, ranked, billedReads: billedCountReads(due) + billedCountReads(ranked) };
  }

  /** O(due users): only asked for when some due user has no rank. */
  async scanUnrankedDueUsers({
    now,
    after,
    limit,
  }: {
    now: number;
    after: { due: number; uid: string } | null;
    limit: number;
  }) {
    const due: { due: number; uid: string; ranked: boolean }[] = [];
    for (const entries of this.index.entriesBetween(after?.due ?? Number.NEGATIVE_INFINITY, now)) {
      for (const entry of entries) {
        if (entry.due <= now && this.index.isLive(entry))
          due.push({ due: entry.due, uid: entry.uid, ranked: true });
      }
    }
    for (const [uid, unrankedDue] of this.unranked) {
      if (unrankedDue <= now) due.push({ due: unrankedDue, uid, ranked: false });
    }
    const page = due
      .filter((user) => !after || user.due > after.due || (user.due === after.due && user.uid > after.uid))
      .sort((a, b) => a.due - b.due || (a.uid < b.uid ? -1 : 1))
      .slice(0, limit);
    this.counters.documentsRead += page.length;
    const last = page.at(-1);
    return {
      scanned: page.length,
      last: last ? { due: last.due, uid: last.uid } : null,
      unranked: page.filter((user) => !user.ranked).map(({ uid, due: userDue }) => ({ uid, due: userDue })),
      documentsRead: page.length,
    };
  }

  async setDueRanks(users: readonly UnrankedDueUser[]): Promise<Failures> {
    const failed = users
      .filter(({ uid, due }) => !this.update(uid, { coachingDueRank: dueRank({ uid, dueAt: due }) }))
      .map(({ uid }) => ({ uid, reason: NOT_FOUND }));
    return { failed };
  }

  async createChainStep(step: ChainStepRecord) {
    const id = chainStepId(step);
    if (this.chainSteps.has(id)) return "exists" as const;
    this.chainSteps.set(id, { ...step });
    this.counters.documentsWritten += 1;
    return "created" as const;
  }

  async getChainStep(query: { chainId: string; step: number; attempt: number }) {
    this.counters.documentsRead += 1;
    const step = this.chainSteps.get(chainStepId(query));
    return step ? { ...step } : null;
  }

  async completeChainStep(query: { chainId: string; step: number; attempt: number }) {
    const step = this.chainSteps.get(chainStepId(query));
    if (step) step.status = "completed";
    this.counters.documentsWritten += 1;
  }

  async getUnscheduledUsers({ limit }: { limit: number }) {
    const page = [...this.unscheduled].slice(0, limit);
    this.counters.documentsRead += page.length;
    return page.map((uid) => this.snapshot(uid));
  }

  async sweepUsers({ after, limit }: { after: string | null; limit: number }) {
    this.sortedUids ??= [...this.users.keys()].sort();
    const start = after === null ? 0 : firstIndex(this.sortedUids, (uid) => uid > after);
    const page = this.sortedUids.slice(start, start + limit);
    const unscheduled = page.flatMap((uid) => {
      const { nextCoachingMessageDue: due, ...rest } = this.users.get(uid)?.document ?? {};
      if (isInstant(due)) return [];
      return [parseUserDocument(uid, due === null ? { ...rest, nextCoachingMessageDue: null } : rest)];
    });
    // As on Firestore: the scan, then each user to fix read whole.
    const documentsRead = page.length + unscheduled.length;
    this.counters.documentsRead += documentsRead;
    return { scanned: page.length, lastUid: page.at(-1) ?? null, unscheduled, documentsRead };
  }

  async getSweepState() {
    this.counters.documentsRead += 1;
    return this.sweepState ? structuredClone(this.sweepState) : null;
  }

  async saveSweepState(state: SweepState) {
    this.sweepState = structuredClone(state);
    this.counters.documentsWritten += 1;
  }

  async countUsers() {
    const total = this.users.size;
    const withDueTime = total - this.withoutDueTime;
    return {
      total,
      withoutDueTime: this.withoutDueTime,
      billedReads: billedCountReads(total) + billedCountReads(withDueTime),
    };
  }

  async getDueSlots(slotIds: readonly string[]) {
    this.counters.documentsRead += slotIds.length;
    const found = new Map<string, DueSlotState>();
    for (const slotId of slotIds) {
      const completed = this.completedSlots.get(slotId);
      if (this.isSlotOpen(slotId)) found.set(slotId, { open: true, nextCoachingMessageDue: null });
      else if (completed !== undefined) found.set(slotId, { open: false, nextCoachingMessageDue: completed });
    }
    return found;
  }

  async setNextDue(updates: readonly ScheduleUpdate[]) {
    return this.applyNextDue(updates);
  }

  /** `setNextDue`, synchronously: for the simulator's processor model, which runs outside any await. */
  applyNextDue(updates: readonly ScheduleUpdate[]): Failures {
    const failed: Failures["failed"] = [];
    for (const { uid, nextCoachingMessageDue, parked, missedWindows, coachingEnabled } of updates) {
      const fields: Record<string, unknown> = {
        nextCoachingMessageDue,
        coachingDueRank: dueRank({ uid, dueAt: nextCoachingMessageDue, missedWindows }),
      };
      if (parked) fields.coachingParkedUntil = nextCoachingMessageDue;
      if (coachingEnabled !== undefined) fields.coachingEnabled = coachingEnabled;
      if (!this.update(uid, fields)) failed.push({ uid, reason: NOT_FOUND });
    }
    return { failed };
  }

  async saveRun(run: SchedulerRunRecord) {
    this.runs.delete(run.runId);
    this.runs.set(run.runId, structuredClone(run));
    if (this.runs.size > KEPT_RUNS) this.runs.delete(this.runs.keys().next().value as string);
    this.counters.documentsWritten += 1;
  }

  async getLlmBreaker() {
    return this.llmBreaker ? structuredClone(this.llmBreaker) : null;
  }
}
