import "server-only";
import { FieldValue, type Firestore } from "firebase-admin/firestore";
import {
  type BreakerSettings,
  type BreakerState,
  breakerAfterFailure,
  breakerGate,
  CLOSED_BREAKER,
} from "@/core/circuit-breaker";
import type { LlmBreaker } from "@/pipeline/processor-ports";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";

const BREAKER_DOC = "llmBreaker";

export async function readLlmBreaker(db: Firestore): Promise<BreakerState | null> {
  return firestoreCall("read LLM breaker", async () => {
    const snapshot = await db.collection(COLLECTIONS.systemState).doc(BREAKER_DOC).get();
    return snapshot.exists ? ({ ...CLOSED_BREAKER, ...snapshot.data() } as BreakerState) : null;
  });
}

/**
 * The breaker on Firestore. Failures are counted with `FieldValue.increment` (exact under
 * concurrency); the one probe after a cool-down is claimed with `create()` keyed by the
 * opening, so exactly one worker probes. Successes write only when there is something to reset.
 */
export function createFirestoreLlmBreaker(db: Firestore, settings: BreakerSettings): LlmBreaker {
  const reference = db.collection(COLLECTIONS.systemState).doc(BREAKER_DOC);
  let lastSeen: BreakerState | null = null;
  return {
    async acquire(now) {
      lastSeen = await readLlmBreaker(db);
      const gate = breakerGate({ breaker: lastSeen, now });
      if (gate !== "probe_due") return gate;
      const probe = await createOnce("claim breaker probe", () =>
        db
          .collection(COLLECTIONS.llmBreakerProbes)
          .doc(String(lastSeen?.openedAt ?? 0))
          .create({ claimedAt: now }),
      );
      return probe === "created" ? "probe" : "open";
    },

    async recordSuccess() {
      if (!lastSeen || (lastSeen.state === "closed" && lastSeen.consecutiveFailures === 0)) return;
      await firestoreCall("close LLM breaker", () => reference.set({ ...CLOSED_BREAKER }));
      lastSeen = { ...CLOSED_BREAKER };
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
    },
  };
}
