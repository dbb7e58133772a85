/**
 * A circuit breaker over LLM calls across all users: an outage must not become thousands of
 * failing calls. After `failureThreshold` consecutive failed calls it opens; while open no call
 * is made and due users get their retry interval; after `cooldownMs` one probe call is let
 * through, and its outcome closes the breaker or opens it for another cool-down.
 *
 * A probe can be lost (its run dies, or its claim applied but reported failure): the time after
 * the cool-down is cut into probe windows of `probeTimeoutMs`, each with its own claim id, so a
 * lost probe holds the breaker for at most one window and never forever.
 */

export interface BreakerSettings {
  failureThreshold: number;
  cooldownMs: number;
  /** How long a claimed probe may go unreported before another worker may probe. */
  probeTimeoutMs: number;
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
 * Whether a failed LLM call failed because the provider could not serve it (rate limited with
 * 429, a 5xx, a timeout, the network): an outage, not the user's failure nor a fault of the
 * request, and trying again later will help. The model adapter says so when it knows
 * (`providerUnavailable`, e.g. a timeout has no status); otherwise a retriable 408, 429 or 5xx
 * is taken as one. A request the provider refused (4xx) or output that did not fit the schema is not.
 */
export function isProviderUnavailable(failure: {
  retriable: boolean;
  statusCode: number | null;
  providerUnavailable?: boolean;
}): boolean {
  if (failure.providerUnavailable !== undefined) return failure.providerUnavailable;
  const status = failure.statusCode;
  return failure.retriable && status !== null && (status === 408 || status === 429 || status >= 500);
}

/**
 * Whether a successful call has something to reset: the breaker is open, or failures are counted.
 * A success writes only then, so the one breaker document is not written on every call.
 */
export function breakerNeedsReset(breaker: BreakerState | null): boolean {
  return breaker !== null && (breaker.state === "open" || breaker.consecutiveFailures > 0);
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

/** One probe window after the cool-down: whoever creates `claimId` first probes in it. */
export interface ProbeWindow {
  /** `${openedAt}_${window index}`: unique per opening and window. */
  claimId: string;
  startsAt: number;
  endsAt: number;
}

/**
 * The probe window `now` falls in, or null when no probe is due (closed, or cooling down).
 * Windows are counted from the end of the cool-down, so every worker computes the same one.
 */
export function probeWindow({
  breaker,
  now,
  settings,
}: {
  breaker: BreakerState | null;
  now: number;
  settings: BreakerSettings;
}): ProbeWindow | null {
  if (!breaker || breakerGate({ breaker, now }) !== "probe_due") return null;
  const openedAt = breaker.openedAt ?? 0;
  const coolDownEnd = breaker.openUntil ?? openedAt;
  const index = Math.max(0, Math.floor((now - coolDownEnd) / settings.probeTimeoutMs));
  const startsAt = coolDownEnd + index * settings.probeTimeoutMs;
  return { claimId: `${openedAt}_${index}`, startsAt, endsAt: startsAt + settings.probeTimeoutMs };
}

/** The stored breaker read at `now`, and whether a worker has claimed the current probe. */
export interface BreakerReading {
  breaker: BreakerState | null;
  now: number;
  settings: BreakerSettings;
  probeInFlight: boolean;
}

/**
 * When a probe call may next be made: null when closed (calls go through), the end of the
 * cool-down while cooling down, `now` when a probe is due and nobody holds it, and the end of
 * the current probe window while a probe is in flight.
 */
export function nextProbeAt({ breaker, now, settings, probeInFlight }: BreakerReading): number | null {
  const gate = breakerGate({ breaker, now });
  if (gate === "closed") return null;
  if (gate === "open") return breaker?.openUntil ?? now;
  if (!probeInFlight) return now;
  return probeWindow({ breaker, now, settings })?.endsAt ?? now;
}

/** The breaker as operators see it (admin dashboard and API). */
export interface BreakerStatus {
  state: BreakerState["state"];
  gate: BreakerGate;
  consecutiveFailures: number;
  openedAt: number | null;
  openUntil: number | null;
  lastFailureAt: number | null;
  lastError: string | null;
  /** Whether a worker has claimed the probe of the current probe window. */
  probeInFlight: boolean;
  /** When a probe call may next be made; null while closed. */
  nextProbeAt: number | null;
}

/** What an operator needs to know about the breaker at `now`. */
export function describeBreaker({ breaker, now, settings, probeInFlight }: BreakerReading): BreakerStatus {
  const current = breaker ?? CLOSED_BREAKER;
  return {
    state: current.state,
    gate: breakerGate({ breaker, now }),
    consecutiveFailures: current.consecutiveFailures,
    openedAt: current.openedAt,
    openUntil: current.openUntil,
    lastFailureAt: current.lastFailureAt,
    lastError: current.lastError,
    probeInFlight,
    nextProbeAt: nextProbeAt({ breaker, now, settings, probeInFlight }),
  };
}
