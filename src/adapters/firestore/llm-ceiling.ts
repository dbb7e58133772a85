import "server-only";
import { FieldValue, type Firestore, Timestamp } from "firebase-admin/firestore";
import { ceilingShardId, decodeCeilingEntries, encodeCeilingEntry, totalCalls } from "@/core/llm-ceiling";
import { retentionExpiry, TTL_FIELD } from "@/core/retention";
import {
  type CeilingShardRef,
  type CeilingStorage,
  createLlmCeilingGate,
  LLM_CEILING_RETENTION,
  type LlmCeilingStore,
} from "../llm-ceiling-gate";
import { COLLECTIONS } from "./collections";
import { firestoreCall } from "./errors";

/**
 * The Firestore storage of the global LLM ceiling: `llmCallCeiling` shard documents
 * `s{shard}_{minuteKey}` whose array `reservations` holds the minute's entries. An entry is
 * appended with `arrayUnion` (new elements go at the end, so the array keeps the order the writes
 * were applied in) and removed with `arrayRemove`, both in `set(..., { merge: true })`: idempotent,
 * no transaction. Every document carries its top-level `minuteStart` (the usage read's and the
 * cleanup's range) and `expireAt` for the TTL policy (core/retention.ts).
 */
export function createFirestoreCeilingStorage(db: Firestore): CeilingStorage {
  const shards = db.collection(COLLECTIONS.llmCallCeiling);
  const shardDocument = (shard: CeilingShardRef) =>
    shards.doc(ceilingShardId(shard.minuteStart, shard.index));
  const shardFields = (shard: CeilingShardRef) => ({
    minuteStart: shard.minuteStart,
    shard: shard.index,
    share: shard.share,
    limit: shard.limit,
    [TTL_FIELD]: Timestamp.fromMillis(retentionExpiry(LLM_CEILING_RETENTION, shard.minuteStart)),
  });

  return {
    async append(shard, entry) {
      await shardDocument(shard).set(
        { ...shardFields(shard), reservations: FieldValue.arrayUnion(encodeCeilingEntry(entry)) },
        { merge: true },
      );
    },

    async remove(shard, entry) {
      await shardDocument(shard).set(
        { ...shardFields(shard), reservations: FieldValue.arrayRemove(encodeCeilingEntry(entry)) },
        { merge: true },
      );
    },

    async read(shard) {
      return decodeCeilingEntries((await shardDocument(shard).get()).get("reservations"));
    },

    // One range query on the top-level `minuteStart` (a single-field index): one document read
    // per shard per minute, `ceil(limit / 50)` a minute.
    async readMinutes(fromMinute, toMinute) {
      const snapshot = await shards
        .where("minuteStart", ">=", fromMinute)
        .where("minuteStart", "<", toMinute)
        .select("minuteStart", "limit", "reservations")
        .get();
      return snapshot.docs.map((document) => ({
        minuteStart: Number(document.get("minuteStart")),
        limit: Number(document.get("limit")) || 0,
        calls: totalCalls(decodeCeilingEntries(document.get("reservations"))),
      }));
    },
  };
}

/**
 * The global ceiling on LLM calls per minute on Firestore (`LLM_CALLS_PER_MINUTE`): exact under
 * any concurrency without transactions (adapters/llm-ceiling-gate.ts), and the per-minute use for
 * the dashboard (`ceilingUsage`).
 */
export function createFirestoreLlmCeiling(
  db: Firestore,
  { callsPerMinute }: { callsPerMinute: number },
): LlmCeilingStore {
  return createLlmCeilingGate(createFirestoreCeilingStorage(db), { callsPerMinute, run: firestoreCall });
}
