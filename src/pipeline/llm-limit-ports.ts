/**
 * What limits LLM calls: the shared circuit breaker, the per-user quotas and the global ceiling
 * on calls per minute. Firestore and in-memory implementations sit in `adapters/`.
 */
import type { QuotaDecision, QuotaLimits } from "@/core/quota";
import type { UsageWindowCount } from "@/core/run-usage";
import type { LlmCallRecord } from "./model-ports";

/** The LLM circuit breaker as the processor uses it. */
export interface LlmBreaker {
  /** closed: call; open: do not; probe: call, as the one probe after a cool-down. */
  acquire(now: number): Promise<"closed" | "open" | "probe">;
  recordSuccess(now: number): Promise<void>;
  recordFailure(now: number, error: string): Promise<void>;
  /**
   * Gives back a probe this instance acquired and has not reported (success or failure), so
   * the next acquire can probe at once; a no-op when nothing is held. Every exit path of a
   * run that acquired "probe" reports or releases it.
   */
  releaseProbe(now: number): Promise<void>;
}

/** One window of a pool's usage (core/run-usage.ts). */
export type UsageWindow = UsageWindowCount;

/**
 * Per-user LLM quotas, over the usage kept on each user's processing state (core/run-usage.ts).
 * Calls on the user's own key and on the engine's default key are counted apart (`keySource`):
 * each against its own limits, so a fallback to the default key spends the default-key allowance
 * and budget. A run is admitted whole, before its first call, and recorded once.
 */
export interface QuotaGate {
  usage(input: {
    uid: string;
    now: number;
    keySource: LlmCallRecord["keySource"];
  }): Promise<{ minute: UsageWindow; day: UsageWindow; month: UsageWindow }>;
  /**
   * One check for a whole run's `calls` (a processor run, an insights event), against the usage
   * recorded so far. It reserves nothing, so runs of one user that overlap (rare: a user's slot
   * runs are serialised by the lease) may each pass and together overshoot a window by at most
   * the calls of the runs in flight.
   */
  admitRun(input: {
    uid: string;
    now: number;
    limits: QuotaLimits;
    keySource: LlmCallRecord["keySource"];
    calls: number;
  }): Promise<QuotaDecision>;
  /** Records a run's calls and their tokens and cost at once (increments, one write). */
  recordRun(input: {
    uid: string;
    now: number;
    keySource: LlmCallRecord["keySource"];
    requests: number;
    inputTokens: number;
    outputTokens: number;
    cost: number;
  }): Promise<void>;
}

/** What the global LLM ceiling answers: admitted, or spent until `retryAt` (the next minute). */
export type CeilingDecision = { admitted: true } | { admitted: false; retryAt: number; reason: string };

/**
 * The global ceiling on LLM calls per minute across every processor invocation
 * (`LLM_CALLS_PER_MINUTE`). Exact: over any UTC minute, the calls admitted never exceed the
 * limit, whatever the concurrency; a reservation is all or nothing.
 */
export interface LlmCallCeiling {
  /** The calls per minute it admits. */
  readonly callsPerMinute: number;
  /** Takes `calls` calls from the budget of `now`'s minute; `seed` spreads callers over shards. */
  reserve(input: { calls: number; now: number; seed: string }): Promise<CeilingDecision>;
}

/** One minute of the ceiling's use, for the dashboard. */
export interface CeilingMinute {
  /** Start of the UTC minute (ms). */
  minuteStart: number;
  calls: number;
  limit: number;
}
