import "server-only";
import { FieldValue, type Firestore, Timestamp } from "firebase-admin/firestore";
import {
  type BreakerSettings,
  type BreakerState,
  type BreakerStatus,
  CLOSED_BREAKER,
  describeBreaker,
  probeWindow,
} from "@/core/circuit-breaker";
import { retentionExpiry, TTL_FIELD, ttlRetentionRule } from "@/core/retention";
import type { LlmBreaker } from "@/pipeline/llm-limit-ports";
import { type BreakerReadCache, createLlmBreakerOver, newBreakerReadCache } from "../llm-breaker-gate";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";

const BREAKER_DOC = "llmBreaker";
/** Probe claims carry the TTL field (core/retention.ts): one per probe window while open. */
const PROBE_RETENTION = ttlRetentionRule("breakerProbes");

/** Each process's last read of the breaker, per database (adapters/llm-breaker-gate.ts `BREAKER_READ_CACHE_MS`). */
const readCaches = new WeakMap<Firestore, BreakerReadCache>();

function readCacheOf(db: Firestore): BreakerReadCache {
  let cache = readCaches.get(db);
  if (!cache) {
    cache = newBreakerReadCache();
    readCaches.set(db, cache);
  }
  return cache;
}

export async function readLlmBreaker(db: Firestore): Promise<BreakerState | null> {
  return firestoreCall("read LLM breaker", async () => {
    const snapshot = await db.collection(COLLECTIONS.systemState).doc(BREAKER_DOC).get();
    return snapshot.exists ? ({ ...CLOSED_BREAKER, ...snapshot.data() } as BreakerState) : null;
  });
}

/** Reads the breaker and, when a probe is due, whether the current window's probe is claimed. */
export async function readLlmBreakerStatus(
  db: Firestore,
  settings: BreakerSettings,
  now: number,
): Promise<BreakerStatus> {
  const breaker = await readLlmBreaker(db);
  const window = probeWindow({ breaker, now, settings });
  const probeInFlight = window
    ? await firestoreCall(
        "read LLM breaker probe",
        async () => (await db.collection(COLLECTIONS.llmBreakerProbes).doc(window.claimId).get()).exists,
      )
    : false;
  return describeBreaker({ breaker, now, settings, probeInFlight });
}

/**
 * An operator's reset: closes the breaker with the failure count at 0, so the next run calls the
 * LLM. Probe claims of the old opening need no clean-up: a new opening has new claim ids.
 */
export async function resetLlmBreaker(db: Firestore): Promise<void> {
  // This process's runs see the reset at once (others within BREAKER_READ_CACHE_MS).
  const cache = readCacheOf(db);
  cache.readAt = null;
  await firestoreCall("reset LLM breaker", () =>
    db
      .collection(COLLECTIONS.systemState)
      .doc(BREAKER_DOC)
      .set({ ...CLOSED_BREAKER }),
  );
}

/**
 * The breaker on Firestore: the worker logic of adapters/llm-breaker-gate.ts over
 * `systemState/llmBreaker` (failures counted with `FieldValue.increment`, exact under concurrency)
 * and `llmBreakerProbes` (the one probe of each probe window claimed with `create()` keyed by the
 * opening and the window, so exactly one worker probes per window and a lost probe holds the
 * breaker for one window at most). At 50 calls a second that is about 1 write per failure plus
 * 1-2 resets per failure (successes whose read-back landed before the first reset committed):
 * ~0.5 writes/s at 0.5 % failures, ~15 writes/s at 10 % (then the breaker is near opening anyway).
 * Callers treat these writes as best-effort (process-user.ts): a failed write never fails the run.
 */
export function createFirestoreLlmBreaker(db: Firestore, settings: BreakerSettings): LlmBreaker {
  const reference = db.collection(COLLECTIONS.systemState).doc(BREAKER_DOC);
  const probes = db.collection(COLLECTIONS.llmBreakerProbes);
  return createLlmBreakerOver(
    {
      read: () => readLlmBreaker(db),
      write: (state) =>
        firestoreCall(state.state === "open" ? "open LLM breaker" : "close LLM breaker", async () => {
          await reference.set(state);
        }),
      countFailure: ({ now, error }) =>
        firestoreCall("count LLM failure", async () => {
          await reference.set(
            { consecutiveFailures: FieldValue.increment(1), lastFailureAt: now, lastError: error },
            { merge: true },
          );
        }),
      claimProbe: (window, { now, openedAt }) =>
        createOnce("claim breaker probe", () =>
          probes.doc(window.claimId).create({
            claimedAt: now,
            openedAt,
            [TTL_FIELD]: Timestamp.fromMillis(retentionExpiry(PROBE_RETENTION, now)),
          }),
        ),
      deleteProbe: (claimId) =>
        firestoreCall("release LLM breaker probe", async () => {
          await probes.doc(claimId).delete();
        }),
    },
    settings,
    readCacheOf(db),
  );
}
