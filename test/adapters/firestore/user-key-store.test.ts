/**
 * The user key store reads back what it (or an older version, or a hand) wrote: documents are
 * parsed, so a field of another type is never used as if it had the documented one.
 */
import { randomBytes } from "node:crypto";
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFirestoreUserKeyStore } from "@/adapters/firestore/user-key-store";
import type { Keyring } from "@/core/key-cipher";
import { type EmulatorHandle, putDocuments, startTestEmulator } from "../../support/firestore";

const NOW = Date.UTC(2026, 5, 1, 12);
const KEY = randomBytes(32);
const keyring: Keyring = { current: { version: 1, key: KEY }, byVersion: new Map([[1, KEY]]) };

let handle: EmulatorHandle;
let db: Firestore;

beforeAll(async () => {
  handle = await startTestEmulator();
});

afterAll(async () => {
  await handle?.stop();
});

beforeEach(() => {
  ({ db } = handle.freshProject("user-keys"));
});

describe("user key store reads", () => {
  it("counts a rejection from 1 when the stored count is not a number", async () => {
    const store = createFirestoreUserKeyStore(db, keyring);
    await store.save({ uid: "odd", apiKey: "sk-or-v1-0123456789abcdef", now: NOW });
    await db.collection("userApiKeys").doc("odd").update({ consecutiveRejections: "many" });
    const rejection = await store.recordRejection({
      uid: "odd",
      statusCode: 401,
      reason: "invalid",
      now: NOW,
    });
    expect(rejection?.consecutiveRejections).toBe(1);
    expect((await db.collection("userApiKeys").doc("odd").get()).get("consecutiveRejections")).toBe(1);
  });

  it("treats a sealed secret that is not one as no usable key, and still shows the key's metadata", async () => {
    await putDocuments(db, "userApiKeys", [
      [
        "junk",
        {
          uid: "junk",
          provider: "openrouter",
          encrypted: "not sealed",
          last4: "cdef",
          status: "active",
          statusAt: NOW,
        },
      ],
    ]);
    const store = createFirestoreUserKeyStore(db, keyring);
    expect(await store.getUsableKey({ uid: "junk", now: NOW })).toBeNull();
    expect(await store.getSummary("junk")).toMatchObject({
      uid: "junk",
      last4: "cdef",
      status: "active",
      consecutiveRejections: 0,
      coolingUntil: null,
    });
  });

  it("never returns the sealed secret in a summary", async () => {
    const store = createFirestoreUserKeyStore(db, keyring);
    await store.save({ uid: "plain", apiKey: "sk-or-v1-0123456789abcdef", now: NOW });
    const summary = await store.getSummary("plain");
    expect(summary).not.toHaveProperty("encrypted");
    expect(JSON.stringify(summary)).not.toContain("0123456789ab");
    expect(await store.getUsableKey({ uid: "plain", now: NOW })).toMatchObject({
      apiKey: "sk-or-v1-0123456789abcdef",
      status: "active",
      consecutiveRejections: 0,
    });
  });
});

describe("the word on the processing state that a key is stored", () => {
  it("is written with the key and with its removal, and a lookup tells no key apart from a resting one", async () => {
    const store = createFirestoreUserKeyStore(db, keyring);
    expect(await store.findKey({ uid: "dana", now: NOW })).toEqual({ stored: false, usable: null });
    await store.save({ uid: "dana", apiKey: "sk-or-v1-0123456789abcdef", now: NOW });
    expect((await db.doc("userProcessingState/dana").get()).data()).toMatchObject({
      ownKeyStored: true,
      ownKeyChangedAt: NOW,
    });
    expect(await store.findKey({ uid: "dana", now: NOW })).toMatchObject({
      stored: true,
      usable: { apiKey: "sk-or-v1-0123456789abcdef" },
    });
    await store.recordRejection({ uid: "dana", statusCode: 429, reason: "rate limited", now: NOW });
    expect(await store.findKey({ uid: "dana", now: NOW + 1 })).toEqual({ stored: true, usable: null });

    expect(await store.remove({ uid: "dana", now: NOW + 10 })).toBe(true);
    expect((await db.doc("userProcessingState/dana").get()).data()).toMatchObject({
      ownKeyStored: false,
      ownKeyChangedAt: NOW + 10,
    });
    expect(await store.remove({ uid: "dana", now: NOW + 20 })).toBe(false);
    expect((await db.doc("userProcessingState/dana").get()).get("ownKeyChangedAt")).toBe(NOW + 10);
  });
});
