/**
 * The global LLM ceiling (`LLM_CALLS_PER_MINUTE`), written once over four storage primitives that
 * the Firestore store and its in-memory twin each provide (adapters/firestore/llm-ceiling.ts,
 * adapters/memory/llm-ceiling.ts), so the two differ only in how a shard document is written and
 * read — the parts their shared contract tests hold to the same behaviour.
 *
 * Exact without transactions (the emulator does not isolate them). A minute's budget is split over
 * shard documents (core/llm-ceiling.ts, why: Firestore's ~1 sustained write/s per document). A
 * shard document keeps the minute's reservations as an array of entries `{id}:{calls}`, appended
 * with `arrayUnion`, which puts each new element at the end: the array's order is the order the
 * appends were applied. A reservation:
 * 1. appends its entry to the first shard of its seed's order (one write) and reads the shard back
 *    (one read): it is admitted when the calls of the entries up to and including its own fit the
 *    shard's share — the usual path, 2 operations;
 * 2. otherwise removes its entry (`arrayRemove`) and tries the next shard of its order, reading
 *    that one first and skipping it when it has no room (a full shard costs a read, not two
 *    writes), up to `MAX_SHARDS_TRIED` shards; then it is refused until the next minute.
 *
 * Never over the limit: an admitted entry is never removed, and entries only ever join at the end.
 * Take the admitted entry that is last in a shard's order: every other admitted entry is before
 * it, so was appended before it and was in the array its reservation read after appending; that
 * read found the calls up to it within the share, so all the admitted calls are. Shares sum to the
 * limit, so a minute's admissions do too. Exact as well: a burst of any concurrency admits the
 * first entries that fit, in the order they were applied, and refuses the rest (a burst of 200
 * single calls on a 50-call shard admits exactly 50). An entry that is refused and not yet removed
 * counts in the reads of the entries after it, which are refused too (their prefix is larger); a
 * later reservation may then be refused where, once the removals land, it would have fitted:
 * under-admission at the edge, never over.
 *
 * Why entries and not `FieldValue.increment`: appending and removing one reservation's entry are
 * idempotent. A write that applied but reported failure is answered by removing the entry, which
 * is harmless if the write did not apply; a removal that applied but reported failure may be
 * repeated. A decrement could do neither: taking back an increment that never applied (or a
 * decrement applied twice by a client retry) lowers the count below the admitted calls, and the
 * ceiling would admit past its limit. What remains: a failure of both the append and its removal
 * leaves the entry counted for its minute (its shard admits up to `calls` fewer: under-admission,
 * never over).
 */
import { randomBytes } from "node:crypto";
import {
  type CeilingEntry,
  type CeilingShardUsage,
  callsThrough,
  ceilingRefusal,
  ceilingShards,
  minuteStartOf,
  shardOrder,
  summarizeCeilingUsage,
  totalCalls,
  usageMinutes,
} from "@/core/llm-ceiling";
import { ttlRetentionRule } from "@/core/retention";
import type { CeilingDecision, CeilingMinute, LlmCallCeiling } from "@/pipeline/llm-limit-ports";

/** Shard documents carry the TTL field from their minute (core/retention.ts). */
export const LLM_CEILING_RETENTION = ttlRetentionRule("llmCeiling");

/** One shard of one minute, as the storage writes it. */
export interface CeilingShardRef {
  minuteStart: number;
  index: number;
  /** The calls the shard admits (its share of `limit`). */
  share: number;
  /** The ceiling in force: kept on the document for the usage read. */
  limit: number;
}

/** What a store must provide; each is one round trip to it. */
export interface CeilingStorage {
  /** Appends `entry` to the shard's entries (creating the document). Idempotent: an entry is there once. */
  append(shard: CeilingShardRef, entry: CeilingEntry): Promise<void>;
  /** Removes `entry` from the shard's entries. Idempotent; harmless if it was never appended. */
  remove(shard: CeilingShardRef, entry: CeilingEntry): Promise<void>;
  /** The shard's entries in the order they were appended (none for a shard never written). */
  read(shard: CeilingShardRef): Promise<CeilingEntry[]>;
  /** Every shard document of the minutes starting in `[fromMinute, toMinute)`: one range read. */
  readMinutes(fromMinute: number, toMinute: number): Promise<CeilingShardUsage[]>;
}

/** The ceiling the processor reserves from, and the per-minute use the dashboard shows. */
export interface LlmCeilingStore extends LlmCallCeiling {
  /**
   * The calls admitted per UTC minute over `[from, to)` (at most `MAX_USAGE_MINUTES` minutes),
   * oldest first, every minute present (0 when nothing was reserved). Costs one range query
   * reading every shard document of those minutes: `ceil(limit / 50)` per minute, so 60 at a limit
   * of 50 and 3,600 at 3,000 for the last hour. Never more than `MAX_USAGE_DOCUMENTS`: above it
   * only the latest minutes that fit are read and answered (6 at a limit of 30,000).
   */
  ceilingUsage(range: { from: number; to: number }): Promise<CeilingMinute[]>;
}

/** Runs one gate operation; the Firestore store turns vendor failures into its error type here. */
type Run = <Result>(operation: string, work: () => Promise<Result>) => Promise<Result>;

export interface LlmCeilingGateOptions {
  callsPerMinute: number;
  run?: Run;
  /** A fresh id per reservation, without ":": two reservations never share an entry. */
  newReservationId?: () => string;
}

const randomReservationId = () => randomBytes(12).toString("hex");

/** Ignores the failure of a best-effort removal: the entry then stays counted (under-admission). */
const ignoreFailure = () => undefined;

export function createLlmCeilingGate(
  storage: CeilingStorage,
  {
    callsPerMinute,
    run = (_operation, work) => work(),
    newReservationId = randomReservationId,
  }: LlmCeilingGateOptions,
): LlmCeilingStore {
  const { append, remove, read, readMinutes } = storage;
  const shards = ceilingShards(callsPerMinute);
  const largestShare = Math.max(...shards.map((shard) => shard.share));

  return {
    callsPerMinute,

    // A caller's mistake is thrown as it is, outside `run`: it is not a storage failure.
    reserve: async ({ calls, now, seed }) => {
      if (!Number.isInteger(calls) || calls < 1)
        throw new RangeError(`a reservation is a positive whole number of calls, got ${calls}`);
      // A reservation lands whole in one shard: one larger than any share can never be admitted.
      if (calls > largestShare)
        return ceilingRefusal(
          now,
          `a run's ${calls} calls exceed the ${callsPerMinute}-a-minute ceiling's largest shard (${largestShare})`,
        );
      return run("reserve LLM calls", async (): Promise<CeilingDecision> => {
        const minuteStart = minuteStartOf(now);
        const entry = { reservationId: newReservationId(), calls };
        const tried = shardOrder(seed, shards.length).flatMap((index) => {
          const shard = shards[index];
          return shard && shard.share >= calls ? [shard] : [];
        });

        for (const [attempt, shard] of tried.entries()) {
          const ref = { minuteStart, index: shard.index, share: shard.share, limit: callsPerMinute };
          // A fallback shard is read first: a full one costs a read instead of two writes.
          if (attempt > 0 && totalCalls(await read(ref)) + calls > shard.share) continue;
          let through: number | null;
          try {
            await append(ref, entry);
            through = callsThrough(await read(ref), entry.reservationId);
          } catch (error) {
            // The append may have applied: remove it (idempotent) so a failed reservation holds nothing.
            await remove(ref, entry).catch(ignoreFailure);
            throw error;
          }
          if (through !== null && through <= shard.share) return { admitted: true };
          // Not admitted here whatever the removal's outcome; an entry it fails to remove only under-admits.
          await remove(ref, entry).catch(ignoreFailure);
        }
        return ceilingRefusal(now, `the ${callsPerMinute}-a-minute LLM call ceiling is spent`);
      });
    },

    ceilingUsage: async ({ from, to }) => {
      const minutes = usageMinutes({ from, to }, shards.length);
      const first = minutes[0];
      const last = minutes.at(-1);
      if (first === undefined || last === undefined) return [];
      const stored = await run("read LLM ceiling usage", () => readMinutes(first, last + 60_000));
      return summarizeCeilingUsage({ minutes, shards: stored, currentLimit: callsPerMinute });
    },
  };
}
