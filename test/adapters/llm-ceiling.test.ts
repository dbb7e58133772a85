/** The Firestore LLM ceiling (on the emulator) and its in-memory twin, held to one contract. */
import type { DocumentData, DocumentReference, Firestore } from "firebase-admin/firestore";
import { Timestamp } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COLLECTIONS } from "@/adapters/firestore/collections";
import { createFirestoreLlmCeiling } from "@/adapters/firestore/llm-ceiling";
import { type CeilingStorage, createLlmCeilingGate } from "@/adapters/llm-ceiling-gate";
import {
  createInMemoryCeilingStorage,
  createMemoryLlmCeiling,
  type InMemoryCeilingData,
} from "@/adapters/memory/llm-ceiling";
import { decodeCeilingEntries, totalCalls } from "@/core/llm-ceiling";
import { type EmulatorHandle, startTestEmulator } from "../support/firestore";
import {
  queriesMissingIndexes,
  queriesOnUnindexedFields,
  readFieldOverrides,
  readIndexes,
} from "../support/index-coverage";
import {
  type CeilingFaults,
  type CeilingOperation,
  describeLlmCeilingContract,
} from "./llm-ceiling.contract";

let handle: EmulatorHandle;
let db: Firestore;

beforeAll(async () => {
  handle = await startTestEmulator();
});
afterAll(async () => {
  await handle?.stop();
});

/** `target` with one property replaced; everything else reaches the real object. */
function intercept<Target extends object>(target: Target, property: string, replacement: unknown): Target {
  return new Proxy(target, {
    get(object, name) {
      if (name === property) return replacement;
      const value = Reflect.get(object, name);
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
}

const deadlineExceeded = () => Object.assign(new Error("deadline exceeded"), { code: 4 });

/** Runs `operation` as `faults` decides: untouched, failing before it applies, or after. */
async function withFault<Result>(
  faults: CeilingFaults,
  operation: CeilingOperation,
  apply: () => Promise<Result>,
): Promise<Result> {
  const fault = faults.decide(operation);
  if (fault === "fail_before") throw deadlineExceeded();
  const result = await apply();
  if (fault === "applied_then_fail") throw deadlineExceeded();
  return result;
}

/** Which ceiling write a `set()` is: the array transform on `reservations` says. */
function writeOperation(fields: DocumentData): CeilingOperation {
  const transform = (fields.reservations as { methodName?: string } | undefined)?.methodName;
  return transform === "FieldValue.arrayRemove" ? "remove" : "append";
}

/** A Firestore whose `llmCallCeiling` documents' `set()` and `get()` fail as `faults` decides. */
function faultyFirestore(target: Firestore, faults: CeilingFaults): Firestore {
  return intercept(target, "collection", (name: string) => {
    const collection = target.collection(name);
    if (name !== COLLECTIONS.llmCallCeiling) return collection;
    return intercept(collection, "doc", (id: string) => {
      const document: DocumentReference = collection.doc(id);
      const faultySet = intercept(document, "set", (fields: DocumentData, options: { merge: true }) =>
        withFault(faults, writeOperation(fields), () => document.set(fields, options)),
      );
      return intercept(faultySet, "get", () => withFault(faults, "read", () => document.get()));
    });
  });
}

describeLlmCeilingContract("Firestore", {
  async create(callsPerMinute) {
    ({ db } = handle.freshProject("ceiling"));
    return createFirestoreLlmCeiling(db, { callsPerMinute });
  },
  withFaults: (callsPerMinute, faults) =>
    createFirestoreLlmCeiling(faultyFirestore(db, faults), { callsPerMinute }),
  async shardCalls(minuteStart) {
    const snapshot = await db
      .collection(COLLECTIONS.llmCallCeiling)
      .where("minuteStart", "==", minuteStart)
      .get();
    return new Map(
      snapshot.docs.map((document) => [
        Number(document.get("shard")),
        totalCalls(decodeCeilingEntries(document.get("reservations"))),
      ]),
    );
  },
});

let data: InMemoryCeilingData = new Map();

/** The in-memory storage with each primitive failing as `faults` decides. */
function faultyStorage(storage: CeilingStorage, faults: CeilingFaults): CeilingStorage {
  return {
    append: (shard, entry) => withFault(faults, "append", () => storage.append(shard, entry)),
    remove: (shard, entry) => withFault(faults, "remove", () => storage.remove(shard, entry)),
    read: (shard) => withFault(faults, "read", () => storage.read(shard)),
    readMinutes: storage.readMinutes,
  };
}

describeLlmCeilingContract("in-memory", {
  async create(callsPerMinute) {
    data = new Map();
    return createMemoryLlmCeiling({ callsPerMinute, data });
  },
  withFaults: (callsPerMinute, faults) =>
    createLlmCeilingGate(faultyStorage(createInMemoryCeilingStorage(data), faults), { callsPerMinute }),
  async shardCalls(minuteStart) {
    return new Map(
      [...data.values()]
        .filter((shard) => shard.minuteStart === minuteStart)
        .map((shard) => [shard.shard, totalCalls(shard.reservations)]),
    );
  },
});

describe("Firestore LLM ceiling documents", () => {
  const NOW = Date.UTC(2026, 5, 15, 12, 30, 20);
  const MINUTE = Date.UTC(2026, 5, 15, 12, 30);

  it("stores a minute's shard with its top-level minuteStart, its share and limit, and a TTL two days after the minute", async () => {
    ({ db } = handle.freshProject("ceiling-doc"));
    const ceiling = createFirestoreLlmCeiling(db, { callsPerMinute: 120 });
    expect(await ceiling.reserve({ calls: 2, now: NOW, seed: "u1" })).toEqual({ admitted: true });
    const snapshot = await db.collection(COLLECTIONS.llmCallCeiling).get();
    expect(snapshot.size).toBe(1);
    const [document] = snapshot.docs;
    if (!document) throw new Error("no shard document");
    expect(document.id).toMatch(/^s[0-2]_202606151230$/);
    // Shards 0 and 1 admit 50 calls, shard 2 the remaining 20 (core/llm-ceiling.ts).
    const share = document.id.startsWith("s2_") ? 20 : 50;
    expect(document.data()).toMatchObject({ minuteStart: MINUTE, limit: 120, share });
    const expireAt = document.get("expireAt");
    expect(expireAt).toBeInstanceOf(Timestamp);
    expect((expireAt as Timestamp).toMillis()).toBe(MINUTE + 2 * 24 * 3_600_000);
  });

  it("turns a Firestore failure into the engine's unavailable error", async () => {
    ({ db } = handle.freshProject("ceiling-error"));
    const faults: CeilingFaults = { fired: 0, decide: () => "fail_before" };
    const ceiling = createFirestoreLlmCeiling(faultyFirestore(db, faults), { callsPerMinute: 10 });
    await expect(ceiling.reserve({ calls: 1, now: NOW, seed: "u1" })).rejects.toMatchObject({
      code: "unavailable:firestore",
    });
  });

  it("every query this file issued has its index, and none filters or orders on an unindexed field", () => {
    const queries = handle.emulator.recordedQueries();
    expect(queries.some((query) => query.collectionGroup === COLLECTIONS.llmCallCeiling)).toBe(true);
    expect(queriesMissingIndexes(queries, readIndexes())).toEqual([]);
    expect(queriesOnUnindexedFields(queries, readFieldOverrides())).toEqual([]);
  });
});
