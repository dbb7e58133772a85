import "server-only";
import { FieldValue, type Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import type { StoppedVariantsReader } from "@/pipeline/prompt-choice";
import {
  createCachedStopsReader,
  newStoppedVariantsCache,
  type StoppedVariantsCache,
} from "../prompt-experiment-stops";
import { COLLECTIONS } from "./collections";
import { firestoreCall } from "./errors";

/** `systemState/promptExperiments`: the variant keys (`experiment/variant`) an operator stopped. */
const EXPERIMENTS_DOC = "promptExperiments";

/**
 * No document: nothing stopped. A garbled one is an error, not "nothing stopped": the run then
 * falls back to the control (pipeline/prompt-choice.ts), so no stopped variant comes back.
 */
const stopsSchema = z.object({ stopped: z.array(z.string()).default([]) });

/** Each process's last read of the stopped variants, per database. */
const caches = new WeakMap<Firestore, StoppedVariantsCache>();

function cacheOf(db: Firestore): StoppedVariantsCache {
  let cache = caches.get(db);
  if (!cache) {
    cache = newStoppedVariantsCache();
    caches.set(db, cache);
  }
  return cache;
}

/** The stopped variant keys, read now (the admin pages; runs read through the cache). */
export function readStoppedVariants(db: Firestore): Promise<ReadonlySet<string>> {
  return firestoreCall("read stopped prompt variants", async () => {
    const snapshot = await db.collection(COLLECTIONS.systemState).doc(EXPERIMENTS_DOC).get();
    const parsed = stopsSchema.safeParse(snapshot.data() ?? {});
    if (!parsed.success)
      throw new Error("systemState/promptExperiments is malformed: `stopped` must be a list of variant keys");
    return new Set(parsed.data.stopped);
  });
}

/**
 * Stops or resumes a variant (an operator's action). `arrayUnion`/`arrayRemove` change only that
 * key, so two operators stopping two variants at once both stick. Runs that share this module's
 * cache see the change at once; the others within `STOPPED_VARIANTS_CACHE_MS`.
 */
export async function setVariantStopped(
  db: Firestore,
  { variantKey, stopped, now }: { variantKey: string; stopped: boolean; now: number },
): Promise<void> {
  cacheOf(db).readAt = null;
  await firestoreCall(stopped ? "stop prompt variant" : "resume prompt variant", () =>
    db
      .collection(COLLECTIONS.systemState)
      .doc(EXPERIMENTS_DOC)
      .set(
        {
          stopped: stopped ? FieldValue.arrayUnion(variantKey) : FieldValue.arrayRemove(variantKey),
          updatedAt: now,
        },
        { merge: true },
      ),
  );
}

/** The processor's reader of the stopped variants on Firestore, through this process's cache. */
export function createFirestoreStoppedVariants(db: Firestore): StoppedVariantsReader {
  return createCachedStopsReader({ read: () => readStoppedVariants(db), cache: cacheOf(db) });
}
