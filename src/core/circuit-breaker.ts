/**
 * A circuit breaker over LLM calls across all users: an outage must not become thousands of
 * failing calls. After `failureThreshold` consecutive failed calls it opens; while open no call
 * is made and due users get their retry interval; after `cooldownMs` one probe call is let
 * through, and its outcome closes the breaker or opens it for another cool-down.
 */

export interface BreakerSettings {
  failureThreshold: number;
  cooldownMs: number;
}

export interface BreakerState {
  state: "closed" | "open";
  consecutiveFailures: number;
  openedAt: number | null;
  openUntil: number | null;
  lastFailureAt: number | null;
  lastError: string | null;
}

export const CLOSED_BREAKER: BreakerState = {
  state: "closed",
  consecutiveFailures: 0,
  openedAt: null,
  openUntil: null,
  lastFailureAt: null,
  lastError: null,
};

export type BreakerGate = "closed" | "open" | "probe_due";

/** What a caller may do now: call, not call, or try to become the one probe. */
export function breakerGate({ breaker, now }: { breaker: BreakerState | null; now: number }): BreakerGate {
  if (!breaker || breaker.state === "closed") return "closed";
  if (breaker.openUntil !== null && now < breaker.openUntil) return "open";
  return "probe_due";
}

/**
 * The breaker after a failed call, or null when it does not change state beyond the count.
 * A failed probe (the breaker was open) re-opens it for another cool-down.
 */
export function breakerAfterFailure({
  breaker,
  failuresCounted,
  now,
  error,
  settings,
}: {
  breaker: BreakerState | null;
  /** The consecutive-failure count including this failure. */
  failuresCounted: number;
  now: number;
  error: string;
  settings: BreakerSettings;
}): BreakerState | null {
  const wasOpen = breaker?.state === "open";
  if (!wasOpen && failuresCounted < settings.failureThreshold) return null;
  return {
    state: "open",
    consecutiveFailures: failuresCounted,
    openedAt: now,
    openUntil: now + settings.cooldownMs,
    lastFailureAt: now,
    lastError: error.slice(0, 300),
  };
}
