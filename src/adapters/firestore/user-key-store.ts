import "server-only";
import { FieldValue, type Firestore } from "firebase-admin/firestore";
import { z } from "zod";
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

const KEY_STATUSES = [
  "active",
  "invalid",
  "insufficient_credits",
  "rate_limited",
] as const satisfies readonly KeyStatus[];
const count = z.number().int().nonnegative().catch(0);

/**
 * A stored key as read back. Written only by this store, but by older versions too (which lacked
 * the rejection fields) or by hand: a field of another type takes its neutral value, and a
 * sealed secret that is not one is `null` (the key is then unusable, never a crash).
 */
const storedUserKeySchema = z.object({
  uid: z.string().catch(""),
  provider: z.literal("openrouter").catch("openrouter"),
  encrypted: z
    .object({ keyVersion: z.number().int(), iv: z.string(), tag: z.string(), ciphertext: z.string() })
    .nullable()
    .catch(null),
  last4: z.string().catch(""),
  status: z.enum(KEY_STATUSES).catch("invalid"),
  statusReason: z.string().nullable().catch(null),
  statusAt: z.number().catch(0),
  fallbacks: count,
  consecutiveRejections: count,
  coolingUntil: z.number().nullable().catch(null),
  createdAt: z.number().catch(0),
  updatedAt: z.number().catch(0),
});

function parseStoredUserKey(uid: string, stored: unknown) {
  const key = storedUserKeySchema.parse(stored ?? {});
  return { ...key, uid: key.uid || uid };
}

/**
 * The word on the user's processing state that a key is stored or not (core/own-key-lookup.ts
 * `ownKeyLookupNeeded`), written in the batch that stores or deletes the key: a run of a user
 * without a key then skips the `userApiKeys` lookup. Its own fields, which no run writes.
 */
function ownKeyWord(uid: string, stored: boolean, now: number) {
  return { uid, ownKeyStored: stored, ownKeyChangedAt: now };
}

/** The lookup a run makes: whether a key document exists at all, and the key to use at `now`. */
export interface OwnKeyLookup {
  stored: boolean;
  usable: { apiKey: string; status: KeyStatus; consecutiveRejections: number } | null;
}

export function createFirestoreUserKeyStore(db: Firestore, keyring: Keyring) {
  const keys = db.collection(COLLECTIONS.userApiKeys);
  const states = db.collection(COLLECTIONS.userProcessingState);
  const findKey = ({ uid, now }: { uid: string; now: number }) =>
    firestoreCall("read user key", async (): Promise<OwnKeyLookup> => {
      const snapshot = await keys.doc(uid).get();
      if (!snapshot.exists) return { stored: false, usable: null };
      const stored = parseStoredUserKey(uid, snapshot.data());
      if (stored.encrypted === null || isKeyCooling({ coolingUntil: stored.coolingUntil }, now))
        return { stored: true, usable: null };
      const apiKey = decryptSecret({ secret: stored.encrypted, uid, keyring });
      return {
        stored: true,
        usable:
          apiKey === null
            ? null
            : { apiKey, status: stored.status, consecutiveRejections: stored.consecutiveRejections },
      };
    });
  const summary = ({
    encrypted: _encrypted,
    ...rest
  }: UserKeySummary & { encrypted: unknown }): UserKeySummary => rest;

  return {
    getSummary: (uid: string) =>
      firestoreCall("read user key", async () => {
        const snapshot = await keys.doc(uid).get();
        return snapshot.exists ? summary(parseStoredUserKey(uid, snapshot.data())) : null;
      }),

    /**
     * The key to use at `now`, or null: none stored, resting after rejections, or not decryptable
     * for this user. A key that failed before comes back after its rest, to be tried once more.
     */
    getUsableKey: async ({ uid, now }: { uid: string; now: number }) => (await findKey({ uid, now })).usable,

    /** `getUsableKey`, telling apart "no key stored" (which a run records on the state) from "none usable now". */
    findKey,

    save: ({ uid, apiKey, now }: { uid: string; apiKey: string; now: number }) =>
      firestoreCall("store user key", async () => {
        const existing = await keys.doc(uid).get();
        const createdAt = existing.get("createdAt");
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
          createdAt: typeof createdAt === "number" ? createdAt : now,
          updatedAt: now,
        };
        const batch = db.batch();
        batch.set(keys.doc(uid), record);
        batch.set(states.doc(uid), ownKeyWord(uid, true, now), { merge: true });
        await batch.commit();
        return summary(record);
      }),

    remove: ({ uid, now }: { uid: string; now: number }) =>
      firestoreCall("delete user key", async () => {
        const snapshot = await keys.doc(uid).get();
        if (!snapshot.exists) return false;
        const batch = db.batch();
        batch.delete(keys.doc(uid));
        batch.set(states.doc(uid), ownKeyWord(uid, false, now), { merge: true });
        await batch.commit();
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
        const consecutiveRejections = parseStoredUserKey(uid, snapshot.data()).consecutiveRejections + 1;
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
