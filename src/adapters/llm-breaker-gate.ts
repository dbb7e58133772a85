/**
 * The LLM circuit breaker as one worker uses it, written once over the storage primitives that
 * the Firestore breaker and its in-memory twin each provide (adapters/firestore/llm-breaker.ts,
 * adapters/memory/llm-breaker.ts); their shared contract tests hold the two to the same behaviour.
 * The rules are core/circuit-breaker.ts's. One instance serves one run: it remembers the state it
 * read at `acquire` and the probe it claimed and has not reported yet.
 *
 * Writes are kept to what changes the breaker (one document, which real Firestore sustains at
 * about one write a second): a failure is one increment (plus one write when it opens the
 * breaker); a success writes only when the breaker it read at `acquire` and again just before
 * writing still needs a reset, so the reset after a failure is written about once, by whichever
 * success comes first, not by every success.
 */
import {
  type BreakerSettings,
  type BreakerState,
  breakerAfterFailure,
  breakerGate,
  breakerNeedsReset,
  CLOSED_BREAKER,
  type ProbeWindow,
  probeWindow,
} from "@/core/circuit-breaker";
import type { LlmBreaker } from "@/pipeline/llm-limit-ports";

/** What a store must provide; each is one round trip to it. */
export interface BreakerStorage {
  /** The stored breaker over the closed defaults; null when it was never written. */
  read(): Promise<BreakerState | null>;
  /** Replaces the breaker (opening or closing it). */
  write(state: BreakerState): Promise<void>;
  /** Counts one failure with an increment (never read-then-write) and records the error. */
  countFailure(input: { now: number; error: string }): Promise<void>;
  /** Creates the probe claim of `window`; "exists" when another worker claimed it first. */
  claimProbe(
    window: ProbeWindow,
    input: { now: number; openedAt: number | null },
  ): Promise<"created" | "exists">;
  /** Deletes a probe claim (only ever one this instance created). */
  deleteProbe(claimId: string): Promise<void>;
}

/**
 * How long a process answers `acquire` from its last read of the breaker instead of reading it
 * again, when that read found it closed. A processor instance serves many runs a second in a
 * burst, and each read is a billed document read of one hot document. The cost: for up to this
 * long after another instance opened the breaker, this one still sees it closed and lets the runs
 * it starts call, into an outage (each counted as a failure, as before the breaker opened); its
 * own failures update it at once. An open breaker is never answered from the cache.
 */
export const BREAKER_READ_CACHE_MS = 5_000;

/** One process's last read of the breaker, shared by the breaker instances of its runs. */
export interface BreakerReadCache {
  readAt: number | null;
  state: BreakerState | null;
}

export function newBreakerReadCache(): BreakerReadCache {
  return { readAt: null, state: null };
}

/**
 * `readCache`: the process's cache (see `BREAKER_READ_CACHE_MS`); null reads the breaker at every
 * `acquire` (the in-memory twin in the chaos simulation, where each simulated process is a run).
 */
export function createLlmBreakerOver(
  storage: BreakerStorage,
  settings: BreakerSettings,
  readCache: BreakerReadCache | null,
): LlmBreaker {
  let lastSeen: BreakerState | null = null;
  const remember = (state: BreakerState | null, now: number) => {
    if (!readCache) return;
    readCache.readAt = now;
    readCache.state = state;
  };
  const readForAcquire = async (now: number) => {
    const age = readCache?.readAt === null || !readCache ? null : now - readCache.readAt;
    // Only a closed breaker is answered from the cache. A run refused by an open one is deferred
    // by hours, so an opening that another process has ended since (a probe's success, an admin's
    // reset) must be seen at once; and while it is open few runs are dispatched to read it.
    const cachedClosed = readCache !== null && breakerGate({ breaker: readCache.state, now }) === "closed";
    if (cachedClosed && age !== null && age >= 0 && age < BREAKER_READ_CACHE_MS) return readCache.state;
    const state = await storage.read();
    remember(state, now);
    return state;
  };
  /** The probe this instance claimed and has not reported yet. */
  let heldProbe: ProbeWindow | null = null;
  return {
    async acquire(now) {
      lastSeen = await readForAcquire(now);
      const gate = breakerGate({ breaker: lastSeen, now });
      if (gate !== "probe_due") return gate;
      const window = probeWindow({ breaker: lastSeen, now, settings });
      if (!window) return "open";
      if (heldProbe?.claimId === window.claimId) return "probe";
      // A claim that throws may still have applied (a timeout): it then stands unowned, and the
      // next window frees the probe.
      const probe = await storage.claimProbe(window, { now, openedAt: lastSeen?.openedAt ?? null });
      if (probe !== "created") return "open";
      heldProbe = window;
      return "probe";
    },

    async recordSuccess(now) {
      if (!breakerNeedsReset(lastSeen)) {
        heldProbe = null;
        return;
      }
      // Read again before writing: another run's success has usually reset it meanwhile, and the
      // reset is idempotent, so only a breaker that still needs it is written.
      if (breakerNeedsReset(await storage.read())) await storage.write({ ...CLOSED_BREAKER });
      lastSeen = { ...CLOSED_BREAKER };
      remember(lastSeen, now);
      // Reported: the claim is spent (kept only after a failed write, so a release frees it).
      heldProbe = null;
    },

    async recordFailure(now, error) {
      await storage.countFailure({ now, error: error.slice(0, 300) });
      const current = await storage.read();
      const opened = breakerAfterFailure({
        breaker: lastSeen,
        failuresCounted: current?.consecutiveFailures ?? 1,
        now,
        error,
        settings,
      });
      if (opened && !(current?.state === "open" && lastSeen?.state !== "open")) {
        await storage.write(opened);
      }
      lastSeen = opened ?? current;
      remember(lastSeen, now);
      heldProbe = null;
    },

    async releaseProbe(now) {
      const claim = heldProbe;
      heldProbe = null;
      // Once its window has ended the claim blocks nobody: nothing to write.
      if (!claim || now >= claim.endsAt) return;
      // Deleting the claim lets the next acquire of this window create it and probe at once.
      await storage.deleteProbe(claim.claimId);
    },
  };
}
