/**
 * The health of a user's own OpenRouter key: which provider answers reject the key, and how long
 * a rejected key rests before it is tried again. While it rests every run goes straight to the
 * engine's default key, under the default-key limits and budget. Pure.
 */

export const KEY_REJECTION_STATUSES: ReadonlySet<number> = new Set([401, 402, 403, 429]);

export type KeyStatus = "active" | "invalid" | "insufficient_credits" | "rate_limited";

export function keyStatusFor(statusCode: number): KeyStatus {
  if (statusCode === 402) return "insufficient_credits";
  if (statusCode === 429) return "rate_limited";
  return "invalid";
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

/**
 * The first rest after a rejection, by what the provider said: a rate limit frees soonest,
 * credits come back when the user tops up, a refused key (401/403) rarely comes back by itself.
 */
const FIRST_COOL_DOWN_MS: Record<KeyStatus, number> = {
  active: 0,
  rate_limited: 5 * MINUTE_MS,
  insufficient_credits: HOUR_MS,
  invalid: 6 * HOUR_MS,
};
/** However often it failed, a key is tried again within a day (a user may fix it without telling us). */
export const MAX_KEY_COOL_DOWN_MS = 24 * HOUR_MS;

/**
 * How long the key rests after its `consecutiveRejections`-th rejection in a row: the first rest
 * for its status, doubled for each rejection before it, at most a day.
 */
export function keyCoolDownMs({
  statusCode,
  consecutiveRejections,
}: {
  statusCode: number;
  consecutiveRejections: number;
}): number {
  const first = FIRST_COOL_DOWN_MS[keyStatusFor(statusCode)];
  const doublings = Math.max(0, Math.min(consecutiveRejections - 1, 16));
  return Math.min(MAX_KEY_COOL_DOWN_MS, first * 2 ** doublings);
}

/** Whether the key is resting at `now` (then the default key serves the run). */
export function isKeyCooling({ coolingUntil }: { coolingUntil: number | null }, now: number): boolean {
  return coolingUntil !== null && now < coolingUntil;
}
