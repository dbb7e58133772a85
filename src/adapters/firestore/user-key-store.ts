import "server-only";
import { FieldValue, type Firestore } from "firebase-admin/firestore";
import { decryptSecret, type EncryptedSecret, encryptSecret, type Keyring, keyHint } from "@/core/key-cipher";
import { isKeyCooling, type KeyStatus, keyCoolDownMs, keyStatusFor } from "@/core/user-key-health";
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
  /** Calls that went to the default key because this key was rejected. */
  fallbacks: number;
  /** Rejections in a row; a call the key answers resets it. */
  consecutiveRejections: number;
  /** Until then the key rests and runs use the default key (core/user-key-health.ts). */
  coolingUntil: number | null;
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

    /**
     * The key to use at `now`, or null: none stored, resting after rejections, or not decryptable
     * for this user. A key that failed before comes back after its rest, to be tried once more.
     */
    getUsableKey: ({ uid, now }: { uid: string; now: number }) =>
      firestoreCall("read user key", async () => {
        const snapshot = await keys.doc(uid).get();
        if (!snapshot.exists) return null;
        const stored = snapshot.data() as StoredUserKey;
        if (isKeyCooling({ coolingUntil: stored.coolingUntil ?? null }, now)) return null;
        const apiKey = decryptSecret({ secret: stored.encrypted, uid, keyring });
        return apiKey === null
          ? null
          : { apiKey, status: stored.status, consecutiveRejections: stored.consecutiveRejections ?? 0 };
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
          consecutiveRejections: 0,
          coolingUntil: null,
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

    /**
     * The provider rejected the key: its status follows the answer, and it rests for longer with
     * each rejection in a row. A read then an update: two runs rejected at once may count one
     * rejection, which only shortens one rest.
     */
    recordRejection: ({
      uid,
      statusCode,
      reason,
      now,
    }: {
      uid: string;
      statusCode: number;
      reason: string;
      now: number;
    }) =>
      firestoreCall("mark user key", async () => {
        const snapshot = await keys.doc(uid).get();
        if (!snapshot.exists) return null;
        const consecutiveRejections =
          ((snapshot.get("consecutiveRejections") as number | undefined) ?? 0) + 1;
        const coolingUntil = now + keyCoolDownMs({ statusCode, consecutiveRejections });
        await keys.doc(uid).update({
          status: keyStatusFor(statusCode),
          statusReason: reason.slice(0, 300),
          statusAt: now,
          fallbacks: FieldValue.increment(1),
          consecutiveRejections,
          coolingUntil,
          updatedAt: now,
        });
        return { consecutiveRejections, coolingUntil };
      }),

    /** The key answered after failing before: active again, its rejection count reset. */
    recordAcceptance: ({ uid, now }: { uid: string; now: number }) =>
      firestoreCall("mark user key", async () => {
        await keys.doc(uid).update({
          status: "active",
          statusReason: null,
          statusAt: now,
          consecutiveRejections: 0,
          coolingUntil: null,
          updatedAt: now,
        });
      }),
  };
}

export type UserKeyStore = ReturnType<typeof createFirestoreUserKeyStore>;
