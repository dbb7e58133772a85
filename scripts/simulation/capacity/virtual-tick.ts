/**
 * The scheduler's view of time in the capacity simulation: every store call and dispatch the
 * real `runScheduler` makes advances the tick's virtual elapsed time by its cost (cost-model.ts),
 * and `elapsedMs` reads that, so the time budget (SCHEDULER_TIME_BUDGET_MS) and the per-tick cap
 * bind as they would in production, not at the speed of this machine.
 */
import type { Dispatcher } from "@/pipeline/dispatch-ports";
import type { SchedulerStore } from "@/pipeline/scheduler-store-ports";
import {
  BENCH_DISPATCH_CONCURRENCY,
  BENCH_DISPATCHES_PER_SECOND,
  BENCH_FIRESTORE_ROUND_TRIP_MS,
  FIRESTORE_BATCH_LIMIT,
  FIRESTORE_PER_DOCUMENT_MS,
} from "./cost-model";

export class TickClock {
  elapsedMs = 0;
  constructor(readonly startedAt: number) {}

  /** Whole milliseconds, as Date.now() gives them (Temporal rejects fractions). */
  get now(): number {
    return this.startedAt + Math.round(this.elapsedMs);
  }
}

/** Store methods that write `users` documents (batched commits of up to 500 writes). */
const USER_WRITES: ReadonlySet<string | symbol> = new Set(["setNextDue", "setDueRanks"]);

/** Documents a store call read or wrote: its result's length, its argument's, or the count it reports. */
function documentsOf(args: readonly unknown[], result: unknown): number {
  if (Array.isArray(result)) return result.length;
  if (Array.isArray(args[0])) return args[0].length;
  if (result && typeof result === "object" && "documentsRead" in result) {
    return Number((result as { documentsRead: unknown }).documentsRead) || 0;
  }
  return 1;
}

/**
 * Wraps every method of the store, whatever the port holds at the time, with its virtual cost:
 * one round trip per call (per 500 writes for a batch of user writes) plus a cost per
 * document. `onUserWrites` sees each due-time write at its virtual instant.
 */
export function withVirtualCost(
  store: SchedulerStore,
  clock: TickClock,
  onUserWrites: (at: number, count: number) => void,
): SchedulerStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const member: unknown = Reflect.get(target, property, receiver);
      if (typeof member !== "function") return member;
      return async (...args: unknown[]) => {
        const result: unknown = await member.apply(target, args);
        const documents = documentsOf(args, result);
        const writes = USER_WRITES.has(property);
        const roundTrips = writes ? Math.max(1, Math.ceil(documents / FIRESTORE_BATCH_LIMIT)) : 1;
        clock.elapsedMs += roundTrips * BENCH_FIRESTORE_ROUND_TRIP_MS + documents * FIRESTORE_PER_DOCUMENT_MS;
        if (writes) {
          const failed = (result as { failed?: unknown[] } | undefined)?.failed?.length ?? 0;
          onUserWrites(clock.now, documents - failed);
        }
        return result;
      };
    },
  });
}

/** Milliseconds of tick time one dispatch takes at `concurrency` calls in flight (bench-derived). */
export function dispatchCostMs(concurrency: number): number {
  const callMs = (BENCH_DISPATCH_CONCURRENCY / BENCH_DISPATCHES_PER_SECOND) * 1_000;
  return callMs / concurrency;
}

/** A dispatcher that hands each user to `onDispatch` at the virtual instant the call is made. */
export function virtualDispatcher(
  clock: TickClock,
  costMs: number,
  onDispatch: (userId: string, at: number) => void,
): Dispatcher {
  return {
    async dispatch({ userId }) {
      clock.elapsedMs += costMs;
      onDispatch(userId, clock.now);
      return { ok: true, status: 202 };
    },
  };
}
