/**
 * The outbox's retry policy, pure: exponential backoff with jitter, when to give up (dead
 * letters), and how long a claim holds an event. `now` and randomness are passed in.
 */
import type { EventRecord } from "./events";

/**
 * When the outbox gives up on an event. A passing failure (Resend down, a 429) is retried until
 * the event is `maxAgeMs` old, however many attempts that takes: an outage of hours must not
 * turn every email of its window into a dead letter. The attempt cap bounds the rest: runs that
 * never report back (killed), and handlers that want few retries (insights cost LLM calls).
 */
export interface RetryPolicy {
  /** Retries after the first attempt, at most, before the event is dead-lettered, whatever the age. */
  maxRetries: number;
  /** Delay before the first retry, before jitter. */
  baseDelayMs: number;
  /** No delay exceeds this. */
  maxDelayMs: number;
  /** Retriable failures are retried until this long after `retryWindowStart`. */
  maxAgeMs: number;
}

/**
 * Delay before retry number `retry` (1-based): "equal jitter" around an exponential step, in
 * [step / 2, step] with step = min(max, base · 2^(retry − 1)). Below the cap consecutive ranges
 * touch but never overlap, so delays grow with each retry while the jitter still spreads a burst
 * of failures; at the cap they stay within [max / 2, max].
 */
export function retryDelayMs({
  retry,
  policy,
  random,
}: {
  retry: number;
  policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">;
  random: () => number;
}): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

export type FailureDecision =
  | { action: "retry"; nextAttemptAt: number }
  | { action: "dead_letter"; cause: "not_retriable" | "max_attempts" | "max_age" };

/**
 * Where an event's retry window starts: its creation, or its last requeue when later (an
 * operator's requeue gives it a full window again). Null when the event carries no creation time
 * (the app may write one without): then only the attempt cap ends its retries.
 */
export function retryWindowStart(event: Pick<EventRecord, "created_at" | "requeued_at">): number | null {
  const start = Math.max(event.created_at, event.requeued_at ?? 0);
  return start > 0 ? start : null;
}

/**
 * After a failed attempt (`attempts` counts it): retry with backoff, or give up. A retriable
 * failure is retried until `policy.maxAgeMs` after `retrySince` (see `RetryPolicy`), within the
 * attempt cap; the retry after the window's last failure still runs, so the last try is never
 * skipped.
 */
export function decideAfterFailure({
  attempts,
  retriable,
  now,
  retrySince,
  policy,
  random,
}: {
  attempts: number;
  retriable: boolean;
  now: number;
  /** `retryWindowStart` of the event. */
  retrySince: number | null;
  policy: RetryPolicy;
  random: () => number;
}): FailureDecision {
  if (!retriable) return { action: "dead_letter", cause: "not_retriable" };
  if (attempts > policy.maxRetries) return { action: "dead_letter", cause: "max_attempts" };
  if (retrySince !== null && now - retrySince >= policy.maxAgeMs)
    return { action: "dead_letter", cause: "max_age" };
  return { action: "retry", nextAttemptAt: now + retryDelayMs({ retry: attempts, policy, random }) };
}

/**
 * How long a claim keeps an event out of the ready query: the lease, or the retry delay for this
 * attempt when that is longer (and never earlier than a retry time the event already had, for a
 * forced run). A finished run writes its own next time; this one stands only when the run never
 * reports back (killed), so killed runs back off like failed ones instead of repeating every drain.
 */
export function claimHoldUntil({
  now,
  attempts,
  leaseMs,
  nextAttemptAt,
  policy,
  random,
}: {
  now: number;
  /** This claim's attempt number. */
  attempts: number;
  leaseMs: number;
  /** The event's `next_attempt_at` before the claim. */
  nextAttemptAt: number;
  policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">;
  random: () => number;
}): number {
  const backoff = retryDelayMs({ retry: attempts, policy, random });
  return Math.max(nextAttemptAt, now + leaseMs, now + backoff);
}
