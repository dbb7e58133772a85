/**
 * The breaker's per-process read cache (adapters/llm-breaker-gate.ts `BREAKER_READ_CACHE_MS`): a
 * process answers `acquire` from its last read for a few seconds, sees its own openings at once,
 * and another process's opening once the cache has aged.
 */
import { describe, expect, it } from "vitest";
import { BREAKER_READ_CACHE_MS, newBreakerReadCache } from "@/adapters/llm-breaker-gate";
import { createInMemoryLlmBreaker, type InMemoryBreakerState } from "@/adapters/memory/llm-breaker";
import type { BreakerState } from "@/core/circuit-breaker";

const settings = { failureThreshold: 2, cooldownMs: 300_000, probeTimeoutMs: 300_000 };
const NOW = Date.UTC(2026, 5, 15, 12, 0, 0);

function openBreaker(at: number): BreakerState {
  return {
    state: "open",
    consecutiveFailures: 2,
    openedAt: at,
    openUntil: at + settings.cooldownMs,
    lastFailureAt: at,
    lastError: "503",
  };
}

describe("the breaker's per-process read cache", () => {
  it("answers from its last read for BREAKER_READ_CACHE_MS, then reads again", async () => {
    const shared: InMemoryBreakerState = { llmBreaker: null };
    const cache = newBreakerReadCache();
    const run = () => createInMemoryLlmBreaker(shared, new Map(), settings, cache);
    expect(await run().acquire(NOW)).toBe("closed");
    // Another process opens it: this one keeps its closed answer a little while (the documented cost).
    shared.llmBreaker = openBreaker(NOW + 1);
    expect(await run().acquire(NOW + BREAKER_READ_CACHE_MS - 1)).toBe("closed");
    expect(await run().acquire(NOW + BREAKER_READ_CACHE_MS)).toBe("open");
  });

  it("sees an opening recorded by its own runs at once", async () => {
    const shared: InMemoryBreakerState = { llmBreaker: null };
    const cache = newBreakerReadCache();
    const run = () => createInMemoryLlmBreaker(shared, new Map(), settings, cache);
    const first = run();
    expect(await first.acquire(NOW)).toBe("closed");
    await first.recordFailure(NOW + 1, "503");
    await first.recordFailure(NOW + 2, "503");
    expect(await run().acquire(NOW + 3)).toBe("open");
  });

  // A run refused by an open breaker is deferred by its retry interval (hours): a cached "open"
  // that another process has closed since (a probe that succeeded, an admin's reset) must not
  // defer the runs this process starts in the next seconds. An open breaker is read every time
  // (few runs are dispatched while it is open, so the reads saved are the closed ones).
  it("does not answer from a cached open breaker that has been closed since (a probe's success, a reset)", async () => {
    const shared: InMemoryBreakerState = { llmBreaker: openBreaker(NOW) };
    const cache = newBreakerReadCache();
    const run = () => createInMemoryLlmBreaker(shared, new Map(), settings, cache);
    expect(await run().acquire(NOW + 1_000)).toBe("open");
    shared.llmBreaker = { ...openBreaker(NOW), state: "closed", consecutiveFailures: 0, openUntil: null };
    expect(await run().acquire(NOW + 2_000)).toBe("closed");
  });

  it("without a cache, reads at every acquire", async () => {
    const shared: InMemoryBreakerState = { llmBreaker: null };
    const breaker = createInMemoryLlmBreaker(shared, new Map(), settings);
    expect(await breaker.acquire(NOW)).toBe("closed");
    shared.llmBreaker = openBreaker(NOW + 1);
    expect(await breaker.acquire(NOW + 2)).toBe("open");
  });
});
