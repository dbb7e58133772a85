/**
 * The stopped prompt variants as the processor reads them: one engine-owned document
 * (`systemState/promptExperiments` on Firestore), answered from a short per-process cache so an
 * instance serving many runs a second reads it about once per `STOPPED_VARIANTS_CACHE_MS`, not
 * once a user (the breaker's pattern, adapters/llm-breaker-gate.ts). The Firestore store and the
 * in-memory twin both read through it.
 */
import type { StoppedVariantsReader } from "@/pipeline/prompt-choice";

/**
 * How long a process answers from its last read: the breaker's `BREAKER_READ_CACHE_MS`, one read
 * per instance every 5 s at most however many runs it serves. The cost: for up to this long after
 * an operator stops (or resumes) a variant, other instances (other functions, and the routes of the
 * admin's own server, which Next.js bundles apart from its pages) still run the old set.
 */
export const STOPPED_VARIANTS_CACHE_MS = 5_000;

/** One process's last read of the stopped variants. */
export interface StoppedVariantsCache {
  readAt: number | null;
  stopped: ReadonlySet<string>;
}

export function newStoppedVariantsCache(): StoppedVariantsCache {
  return { readAt: null, stopped: new Set() };
}

/** Reads `read()` at most once per `STOPPED_VARIANTS_CACHE_MS` of `now` per cache; a failed read is not cached. */
export function createCachedStopsReader({
  read,
  cache,
  ttlMs = STOPPED_VARIANTS_CACHE_MS,
}: {
  read: () => Promise<ReadonlySet<string>>;
  cache: StoppedVariantsCache;
  ttlMs?: number;
}): StoppedVariantsReader {
  return {
    async stoppedVariants(now) {
      const age = cache.readAt === null ? null : now - cache.readAt;
      if (age !== null && age >= 0 && age < ttlMs) return cache.stopped;
      const stopped = await read();
      cache.readAt = now;
      cache.stopped = stopped;
      return stopped;
    },
  };
}
