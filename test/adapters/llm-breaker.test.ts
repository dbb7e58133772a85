/** The Firestore LLM breaker, on the emulator, and its in-memory twin, held to the breaker contract. */
import type { DocumentData, Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll } from "vitest";
import {
  createFirestoreLlmBreaker,
  readLlmBreakerStatus,
  resetLlmBreaker,
} from "@/adapters/firestore/llm-breaker";
import {
  createInMemoryLlmBreaker,
  type InMemoryBreakerState,
  type InMemoryProbeClaims,
  readInMemoryBreakerStatus,
  resetInMemoryBreaker,
} from "@/adapters/memory/llm-breaker";
import type { BreakerState } from "@/core/circuit-breaker";
import { type EmulatorHandle, startTestEmulator } from "../support/firestore";
import { describeLlmBreakerContract } from "./llm-breaker.contract";

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

/** A Firestore whose breaker-probe `create()` applies and then reports a failure: the timeout case. */
function withAmbiguousProbeClaims(target: Firestore, fired: { count: number }): Firestore {
  return intercept(target, "collection", (name: string) => {
    const collection = target.collection(name);
    if (name !== "llmBreakerProbes") return collection;
    return intercept(collection, "doc", (id: string) => {
      const document = collection.doc(id);
      return intercept(document, "create", async (fields: DocumentData) => {
        await document.create(fields);
        fired.count += 1;
        throw Object.assign(new Error("deadline exceeded"), { code: 4 });
      });
    });
  });
}

describeLlmBreakerContract("Firestore", {
  async reset() {
    ({ db } = handle.freshProject("breaker"));
  },
  breaker: (settings) => createFirestoreLlmBreaker(db, settings),
  breakerWithAmbiguousProbeClaims: (settings, fired) =>
    createFirestoreLlmBreaker(withAmbiguousProbeClaims(db, fired), settings),
  async putBreaker(state: BreakerState) {
    await db.doc("systemState/llmBreaker").set(state);
  },
  async readBreaker() {
    return (await db.doc("systemState/llmBreaker").get()).data() as BreakerState | undefined;
  },
  async countProbeClaims() {
    return (await db.collection("llmBreakerProbes").get()).size;
  },
  resetBreaker: () => resetLlmBreaker(db),
  status: (settings, now) => readLlmBreakerStatus(db, settings, now),
});

let shared: InMemoryBreakerState = { llmBreaker: null };
let probes: InMemoryProbeClaims = new Map();

/** Probe claims whose insert applies and then reports a failure: the timeout case. */
class AmbiguousProbeClaims extends Map<string, { claimedAt: number; openedAt: number | null }> {
  constructor(
    private readonly backing: InMemoryProbeClaims,
    private readonly fired: { count: number },
  ) {
    super();
  }
  override has(id: string) {
    return this.backing.has(id);
  }
  override set(id: string, claim: { claimedAt: number; openedAt: number | null }): this {
    this.backing.set(id, claim);
    this.fired.count += 1;
    throw Object.assign(new Error("deadline exceeded"), { code: 4 });
  }
  override delete(id: string) {
    return this.backing.delete(id);
  }
}

describeLlmBreakerContract("in-memory", {
  async reset() {
    shared = { llmBreaker: null };
    probes = new Map();
  },
  breaker: (settings) => createInMemoryLlmBreaker(shared, probes, settings),
  breakerWithAmbiguousProbeClaims: (settings, fired) =>
    createInMemoryLlmBreaker(shared, new AmbiguousProbeClaims(probes, fired), settings),
  async putBreaker(state: BreakerState) {
    shared.llmBreaker = structuredClone(state);
  },
  async readBreaker() {
    return shared.llmBreaker ? structuredClone(shared.llmBreaker) : undefined;
  },
  async countProbeClaims() {
    return probes.size;
  },
  resetBreaker: async () => resetInMemoryBreaker(shared),
  status: async (settings, now) => readInMemoryBreakerStatus(shared, probes, settings, now),
});
