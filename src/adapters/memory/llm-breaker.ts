/**
 * An in-memory twin of the Firestore LLM breaker (adapters/firestore/llm-breaker.ts): the same
 * worker logic (adapters/llm-breaker-gate.ts) over shared state, so several "instances" (one per simulated
 * run, each with its own `lastSeen` and held probe) see one breaker, the scheduler store reads
 * the same state (`database.llmBreaker`), and the probe of each probe window is claimed by a
 * `create()`-style insert keyed by the opening and the window. It passes the same contract tests
 * as the Firestore breaker (test/adapters/llm-breaker.contract.ts).
 */
import {
  type BreakerSettings,
  type BreakerState,
  type BreakerStatus,
  CLOSED_BREAKER,
  describeBreaker,
  probeWindow,
} from "@/core/circuit-breaker";
import type { LlmBreaker } from "@/pipeline/llm-limit-ports";
import { type BreakerReadCache, createLlmBreakerOver } from "../llm-breaker-gate";

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
  /** A process's read cache (adapters/llm-breaker-gate.ts), as production has; null reads every time. */
  readCache: BreakerReadCache | null = null,
): LlmBreaker {
  return createLlmBreakerOver(
    {
      read: async () => readBreaker(shared),
      write: async (state) => {
        shared.llmBreaker = { ...state };
      },
      // A merge write with an increment, as on Firestore.
      countFailure: async ({ now, error }) => {
        const stored = shared.llmBreaker ?? { ...CLOSED_BREAKER };
        shared.llmBreaker = {
          ...stored,
          consecutiveFailures: stored.consecutiveFailures + 1,
          lastFailureAt: now,
          lastError: error,
        };
      },
      // create(): a second claim of one window reports a conflict. A `set` that throws after
      // applying (the contract's timeout case) leaves the claim standing unowned, as on Firestore.
      claimProbe: async (window, { now, openedAt }) => {
        if (probes.has(window.claimId)) return "exists";
        probes.set(window.claimId, { claimedAt: now, openedAt });
        return "created";
      },
      deleteProbe: async (claimId) => {
        probes.delete(claimId);
      },
    },
    settings,
    readCache,
  );
}
