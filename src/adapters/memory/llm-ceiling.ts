/**
 * An in-memory twin of the Firestore LLM ceiling (adapters/firestore/llm-ceiling.ts): the same
 * gate (adapters/llm-ceiling-gate.ts) over plain shared data instead of `llmCallCeiling`
 * documents. Every primitive that is a round trip on Firestore yields here, so concurrent
 * reservations interleave between their appends and reads as they do on Firestore. Several
 * ceilings (one per simulated processor invocation) share one budget when they share `data`. It
 * passes the same contract tests as the Firestore store (test/adapters/llm-ceiling.contract.ts).
 */
import { type CeilingEntry, ceilingShardId, encodeCeilingEntry, totalCalls } from "@/core/llm-ceiling";
import { retentionExpiry } from "@/core/retention";
import {
  type CeilingShardRef,
  type CeilingStorage,
  createLlmCeilingGate,
  LLM_CEILING_RETENTION,
  type LlmCeilingStore,
} from "../llm-ceiling-gate";

/** A `llmCallCeiling` shard document. */
export interface InMemoryCeilingShard {
  minuteStart: number;
  shard: number;
  share: number;
  limit: number;
  /** The entries, in the order they were appended. */
  reservations: CeilingEntry[];
  /** The TTL field (`expireAt`), unix ms. */
  expireAt: number;
}

/** The collection, keyed by the Firestore document ids; a simulation may share it. */
export type InMemoryCeilingData = Map<string, InMemoryCeilingShard>;

/** One Firestore round trip: other calls run in between (a microtask, so fake timers never stall it). */
const roundTrip = () => Promise.resolve();

const sameEntry = (entry: CeilingEntry) => (other: CeilingEntry) =>
  encodeCeilingEntry(other) === encodeCeilingEntry(entry);

/** The storage primitives over `data`: `arrayUnion`, `arrayRemove` and `get()` of a shard document. */
export function createInMemoryCeilingStorage(data: InMemoryCeilingData): CeilingStorage {
  /** One atomic merge into the shard's document, creating it. */
  const merge = (shard: CeilingShardRef, update: (entries: CeilingEntry[]) => CeilingEntry[]) => {
    const id = ceilingShardId(shard.minuteStart, shard.index);
    data.set(id, {
      minuteStart: shard.minuteStart,
      shard: shard.index,
      share: shard.share,
      limit: shard.limit,
      reservations: update([...(data.get(id)?.reservations ?? [])]),
      expireAt: retentionExpiry(LLM_CEILING_RETENTION, shard.minuteStart),
    });
  };

  return {
    async append(shard, entry) {
      await roundTrip();
      merge(shard, (entries) => (entries.some(sameEntry(entry)) ? entries : [...entries, { ...entry }]));
    },
    async remove(shard, entry) {
      await roundTrip();
      merge(shard, (entries) => entries.filter((other) => !sameEntry(entry)(other)));
    },
    async read(shard) {
      await roundTrip();
      return (data.get(ceilingShardId(shard.minuteStart, shard.index))?.reservations ?? []).map((entry) => ({
        ...entry,
      }));
    },
    async readMinutes(fromMinute, toMinute) {
      await roundTrip();
      return [...data.values()]
        .filter((shard) => shard.minuteStart >= fromMinute && shard.minuteStart < toMinute)
        .map((shard) => ({
          minuteStart: shard.minuteStart,
          limit: shard.limit,
          calls: totalCalls(shard.reservations),
        }));
    },
  };
}

/** The in-memory ceiling; ceilings given one `data` share one budget. */
export function createMemoryLlmCeiling({
  callsPerMinute,
  data = new Map(),
}: {
  callsPerMinute: number;
  data?: InMemoryCeilingData;
}): LlmCeilingStore {
  return createLlmCeilingGate(createInMemoryCeilingStorage(data), { callsPerMinute });
}
