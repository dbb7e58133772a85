import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import { decryptSecret, type EncryptedSecret, encryptSecret, type Keyring, keyHint } from "@/core/key-cipher";
import type { KeyStatus } from "@/pipeline/keyed-coach";
import { COLLECTIONS } from "./collections";
import { firestoreCall } from "./errors";

/** What is stored for a user's own key. The plaintext never is; only its last four characters. */
export interface StoredUserKey {
  uid: string;
  provider: "openrouter";
  encrypted: EncryptedSecret;
  last4: string;
  status: KeyStatus;
  statusReason: string | null;
  statusAt: number;
  fallbacks: number;
  createdAt: number;
  updatedAt: number;
}

/** The key's metadata, safe to show: never the key. */
export type UserKeySummary = Omit<StoredUserKey, "encrypted">;

export function createFirestoreUserKeyStore(db: Firestore, keyring: Keyring) {
  const keys = db.collection(COLLECTIONS.userApiKeys);
  const summary = ({ encrypted: _encrypted, ...rest }: StoredUserKey): UserKeySummary => rest;

  return {
    getSummary: (uid: string) =>
      firestoreCall("read user key", async () => {
        const snapshot = await keys.doc(uid).get();
        return snapshot.exists ? summary(snapshot.data() as StoredUserKey) : null;
      }),

    /** The usable key, or null: none stored, marked unusable, or not decryptable for this user. */
    getUsableKey: (uid: string) =>
      firestoreCall("read user key", async () => {
        const snapshot = await keys.doc(uid).get();
        if (!snapshot.exists) return null;
        const stored = snapshot.data() as StoredUserKey;
        if (stored.status === "invalid" || stored.status === "insufficient_credits") return null;
        const apiKey = decryptSecret({ secret: stored.encrypted, uid, keyring });
        return apiKey === null ? null : { apiKey, status: stored.status };
      }),

    save: ({ uid, apiKey, now }: { uid: string; apiKey: string; now: number }) =>
      firestoreCall("store user key", async () => {
        const existing = await keys.doc(uid).get();
        const record: StoredUserKey = {
          uid,
          provider: "openrouter",
          encrypted: encryptSecret({ plaintext: apiKey, uid, keyring }),
          last4: keyHint(apiKey),
          status: "active",
          statusReason: null,
          statusAt: now,
          fallbacks: 0,
          createdAt: (existing.get("createdAt") as number | undefined) ?? now,
          updatedAt: now,
        };
        await keys.doc(uid).set(record);
        return summary(record);
      }),

    remove: (uid: string) =>
      firestoreCall("delete user key", async () => {
        const snapshot = await keys.doc(uid).get();
        if (!snapshot.exists) return false;
        await keys.doc(uid).delete();
        return true;
      }),

    markStatus: ({
      uid,
      status,
      reason,
      now,
    }: {
      uid: string;
      status: KeyStatus;
      reason: string;
      now: number;
    }) =>
      firestoreCall("mark user key", async () => {
        const snapshot = await keys.doc(uid).get();
        if (!snapshot.exists) return;
        await keys.doc(uid).update({
          status,
          statusReason: reason.slice(0, 300),
          statusAt: now,
          fallbacks: ((snapshot.get("fallbacks") as number | undefined) ?? 0) + 1,
          updatedAt: now,
        });
      }),
  };
}

export type UserKeyStore = ReturnType<typeof createFirestoreUserKeyStore>;
