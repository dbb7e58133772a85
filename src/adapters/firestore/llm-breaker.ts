import "server-only";
import { FieldValue, type Firestore, Timestamp } from "firebase-admin/firestore";
import {
  type BreakerSettings,
  type BreakerState,
  type BreakerStatus,
  breakerAfterFailure,
  breakerGate,
  breakerNeedsReset,
  CLOSED_BREAKER,
  describeBreaker,
  type ProbeWindow,
  probeWindow,
} from "@/core/circuit-breaker";
import { retentionExpiry, TTL_FIELD, ttlRetentionRule } from "@/core/retention";
import type { LlmBreaker } from "@/pipeline/processor-ports";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";

const BREAKER_DOC = "llmBreaker";
/** Probe claims carry the TTL field (core/retention.ts): one per probe window while open. */
const PROBE_RETENTION = ttlRetentionRule("breakerProbes");

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
  await firestoreCall("reset LLM breaker", () =>
    db
      .collection(COLLECTIONS.systemState)
      .doc(BREAKER_DOC)
      .set({ ...CLOSED_BREAKER }),
  );
}

/**
 * The breaker on Firestore. Failures are counted with `FieldValue.increment` (exact under
 * concurrency); the one probe of each probe window is claimed with `create()` keyed by the
 * opening and the window, so exactly one worker probes per window and a lost probe holds the
 * breaker for one window at most. One instance serves one run.
 *
 * The breaker is one document, and real Firestore sustains about one write a second on one
 * document, so writes are kept to what changes it: a failure is one increment (plus one write
 * when it opens the breaker); a success writes only when the breaker it read at `acquire` and
 * again just before writing still needs a reset (open, or failures counted), so the reset after
 * a failure is written about once, by whichever success comes first, not by every success. At 50
 * calls a second that makes about 1 write per failure plus 1-2 resets per failure (successes
 * whose read-back landed before the first reset committed): ~0.5 writes/s at 0.5 % failures,
 * ~15 writes/s at 10 % (then the breaker is near opening anyway). Callers treat these writes as
 * best-effort (process-user.ts): a failed write never fails the run.
 */
export function createFirestoreLlmBreaker(db: Firestore, settings: BreakerSettings): LlmBreaker {
  const reference = db.collection(COLLECTIONS.systemState).doc(BREAKER_DOC);
  const probes = db.collection(COLLECTIONS.llmBreakerProbes);
  let lastSeen: BreakerState | null = null;
  /** The probe this instance claimed and has not reported yet. */
  let heldProbe: ProbeWindow | null = null;
  return {
    async acquire(now) {
      lastSeen = await readLlmBreaker(db);
      const gate = breakerGate({ breaker: lastSeen, now });
      if (gate !== "probe_due") return gate;
      const window = probeWindow({ breaker: lastSeen, now, settings });
      if (!window) return "open";
      if (heldProbe?.claimId === window.claimId) return "probe";
      // A create() that throws may still have applied (a timeout): the claim then stands
      // unowned, and the next window frees the probe.
      const probe = await createOnce("claim breaker probe", () =>
        probes.doc(window.claimId).create({
          claimedAt: now,
          openedAt: lastSeen?.openedAt ?? null,
          [TTL_FIELD]: Timestamp.fromMillis(retentionExpiry(PROBE_RETENTION, now)),
        }),
      );
      if (probe !== "created") return "open";
      heldProbe = window;
      return "probe";
    },

    async recordSuccess() {
      if (!breakerNeedsReset(lastSeen)) {
        heldProbe = null;
        return;
      }
      // Read again before writing: another run's success has usually reset it meanwhile, and the
      // reset is idempotent, so only a breaker that still needs it is written (see breakerNeedsReset).
      const current = await readLlmBreaker(db);
      if (breakerNeedsReset(current)) {
        await firestoreCall("close LLM breaker", () => reference.set({ ...CLOSED_BREAKER }));
      }
      lastSeen = { ...CLOSED_BREAKER };
      // Reported: the claim is spent (kept only after a failed write, so a release frees it).
      heldProbe = null;
    },

    async recordFailure(now, error) {
      await firestoreCall("count LLM failure", () =>
        reference.set(
          {
            consecutiveFailures: FieldValue.increment(1),
            lastFailureAt: now,
            lastError: error.slice(0, 300),
          },
          { merge: true },
        ),
      );
      const current = await readLlmBreaker(db);
      const opened = breakerAfterFailure({
        breaker: lastSeen,
        failuresCounted: current?.consecutiveFailures ?? 1,
        now,
        error,
        settings,
      });
      if (opened && !(current?.state === "open" && lastSeen?.state !== "open")) {
        await firestoreCall("open LLM breaker", () => reference.set(opened));
      }
      lastSeen = opened ?? current;
      heldProbe = null;
    },

    async releaseProbe(now) {
      const claim = heldProbe;
      heldProbe = null;
      // Once its window has ended the claim blocks nobody: nothing to write.
      if (!claim || now >= claim.endsAt) return;
      // Deleting the claim lets the next acquire of this window create it and probe at once.
      // Only this instance created it, so the delete frees nobody else's probe.
      await firestoreCall("release LLM breaker probe", () => probes.doc(claim.claimId).delete());
    },
  };
}
