/**
 * An in-memory twin of the Firestore LLM breaker (adapters/firestore/llm-breaker.ts): the same
 * reads and writes in the same order over shared state, so several "instances" (one per simulated
 * run, each with its own `lastSeen` and held probe) see one breaker, the scheduler store reads
 * the same state (`database.llmBreaker`), and the probe of each probe window is claimed by a
 * `create()`-style insert keyed by the opening and the window. It passes the same contract tests
 * as the Firestore breaker (test/adapters/llm-breaker.contract.ts).
 */
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
import type { LlmBreaker } from "@/pipeline/processor-ports";

export interface InMemoryBreakerState {
  /** The `systemState/llmBreaker` document; the in-memory scheduler store reads the same field. */
  llmBreaker: BreakerState | null;
}

/** The `llmBreakerProbes` collection: probe claims by `${openedAt}_${window}`. */
export type InMemoryProbeClaims = Map<string, { claimedAt: number; openedAt: number | null }>;

/** Firestore's read merges the stored fields over the closed defaults. */
function readBreaker(shared: InMemoryBreakerState): BreakerState | null {
  return shared.llmBreaker ? { ...CLOSED_BREAKER, ...structuredClone(shared.llmBreaker) } : null;
}

/** The breaker as operators see it: `readLlmBreakerStatus` of the Firestore adapter. */
export function readInMemoryBreakerStatus(
  shared: InMemoryBreakerState,
  probes: InMemoryProbeClaims,
  settings: BreakerSettings,
  now: number,
): BreakerStatus {
  const breaker = readBreaker(shared);
  const window = probeWindow({ breaker, now, settings });
  return describeBreaker({
    breaker,
    now,
    settings,
    probeInFlight: window ? probes.has(window.claimId) : false,
  });
}

/** An operator's reset: `resetLlmBreaker` of the Firestore adapter. */
export function resetInMemoryBreaker(shared: InMemoryBreakerState): void {
  shared.llmBreaker = { ...CLOSED_BREAKER };
}

export function createInMemoryLlmBreaker(
  shared: InMemoryBreakerState,
  probes: InMemoryProbeClaims,
  settings: BreakerSettings,
): LlmBreaker {
  let lastSeen: BreakerState | null = null;
  /** The probe this instance claimed and has not reported yet. */
  let heldProbe: ProbeWindow | null = null;
  return {
    async acquire(now) {
      lastSeen = readBreaker(shared);
      const gate = breakerGate({ breaker: lastSeen, now });
      if (gate !== "probe_due") return gate;
      const window = probeWindow({ breaker: lastSeen, now, settings });
      if (!window) return "open";
      if (heldProbe?.claimId === window.claimId) return "probe";
      // create(): a second claim of one window reports a conflict. A `set` that throws after
      // applying (the contract's timeout case) leaves the claim standing unowned, as on Firestore.
      if (probes.has(window.claimId)) return "open";
      probes.set(window.claimId, { claimedAt: now, openedAt: lastSeen?.openedAt ?? null });
      heldProbe = window;
      return "probe";
    },

    async recordSuccess() {
      if (!breakerNeedsReset(lastSeen)) {
        heldProbe = null;
        return;
      }
      // Read again, and write only a breaker that still needs the reset (as on Firestore).
      if (breakerNeedsReset(readBreaker(shared))) shared.llmBreaker = { ...CLOSED_BREAKER };
      lastSeen = { ...CLOSED_BREAKER };
      heldProbe = null;
    },

    async recordFailure(now, error) {
      // A merge write with an increment, as on Firestore.
      const stored = shared.llmBreaker ?? { ...CLOSED_BREAKER };
      shared.llmBreaker = {
        ...stored,
        consecutiveFailures: stored.consecutiveFailures + 1,
        lastFailureAt: now,
        lastError: error.slice(0, 300),
      };
      const current = readBreaker(shared);
      const opened = breakerAfterFailure({
        breaker: lastSeen,
        failuresCounted: current?.consecutiveFailures ?? 1,
        now,
        error,
        settings,
      });
      if (opened && !(current?.state === "open" && lastSeen?.state !== "open")) {
        shared.llmBreaker = { ...opened };
      }
      lastSeen = opened ?? current;
      heldProbe = null;
    },

    async releaseProbe(now) {
      const claim = heldProbe;
      heldProbe = null;
      // Once its window has ended the claim blocks nobody: nothing to write.
      if (!claim || now >= claim.endsAt) return;
      probes.delete(claim.claimId);
    },
  };
}
