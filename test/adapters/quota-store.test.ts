/** The Firestore quota store (on the emulator) and its in-memory twin, held to one contract. */
import type { DocumentData, Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll } from "vitest";
import { COLLECTIONS } from "@/adapters/firestore/collections";
import { createFirestoreQuotaStore } from "@/adapters/firestore/quota-store";
import {
  createInMemoryQuotaData,
  createInMemoryQuotaStore,
  type InMemoryQuotaData,
  type InMemoryQuotaToken,
} from "@/adapters/memory/quota-store";
import { type EmulatorHandle, startTestEmulator } from "../support/firestore";
import { describeQuotaStoreContract } from "./quota-store.contract";

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

/** A Firestore whose first `times` quota-token `create()`s apply and then report a failure. */
function withAmbiguousTokenClaims(target: Firestore, fired: { count: number }, times: number): Firestore {
  return intercept(target, "collection", (name: string) => {
    const collection = target.collection(name);
    if (name !== COLLECTIONS.llmQuotaTokens) return collection;
    return intercept(collection, "doc", (id: string) => {
      const document = collection.doc(id);
      return intercept(document, "create", async (fields: DocumentData) => {
        const result = await document.create(fields);
        if (fired.count >= times) return result;
        fired.count += 1;
        throw deadlineExceeded();
      });
    });
  });
}

describeQuotaStoreContract("Firestore", {
  async create() {
    ({ db } = handle.freshProject("quota"));
    return createFirestoreQuotaStore(db);
  },
  withAmbiguousTokenClaims: (fired, times) =>
    createFirestoreQuotaStore(withAmbiguousTokenClaims(db, fired, times)),
});

let data: InMemoryQuotaData = createInMemoryQuotaData();

/** The token collection with its first `times` inserts applying and then throwing. */
class AmbiguousTokens extends Map<string, InMemoryQuotaToken> {
  constructor(
    private readonly fired: { count: number },
    private readonly times: number,
    entries: Map<string, InMemoryQuotaToken>,
  ) {
    super(entries);
  }
  override set(id: string, token: InMemoryQuotaToken): this {
    super.set(id, token);
    if (this.fired.count < this.times) {
      this.fired.count += 1;
      throw deadlineExceeded();
    }
    return this;
  }
}

describeQuotaStoreContract("in-memory", {
  async create() {
    data = createInMemoryQuotaData();
    return createInMemoryQuotaStore(data);
  },
  withAmbiguousTokenClaims(fired, times) {
    // Replaces the shared collection with the failing one for the rest of the test: the plain
    // gate of `create()` reads the same data object, so it sees every token the failures left.
    data.tokens = new AmbiguousTokens(fired, times, data.tokens);
    return createInMemoryQuotaStore(data);
  },
});
