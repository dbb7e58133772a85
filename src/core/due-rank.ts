/**
 * The order of users inside a group of equal due times. Every New York morning user is due at
 * the same instant; ordered by document id, the same ids would come last every day and lose
 * whenever a tick cannot serve the whole group. So every due time the engine writes carries a
 * rank (`coachingDueRank`), and the scheduler walks due users by (due time, rank):
 *
 * - a rank is a hash of the user id and the due time, so the order within a group is a fresh
 *   permutation for every due time (every day), and re-writing the same due time writes the
 *   same rank (idempotent, no randomness to seed);
 * - a user moved to their next window without a message ranks below every user who was served
 *   (one step lower per window missed in a row, up to a bound), so they come first at the next.
 *
 * Ranks are never whole numbers: firebase-admin stores a whole number as an integer and a
 * fraction as a double, Firestore orders both together, but the local emulator compares a
 * double only with doubles. A 40-bit hash keeps every rank (down to the lowest missed-window
 * step) an exact, non-integer double.
 */

import { cyrb53Halves } from "./string-hash";

/** Windows missed in a row that still lower a rank further; beyond it a user stays at the lowest step. */
export const MAX_MISSED_WINDOWS = 24;

/** Below every rank the engine writes: the lower bound that selects users with a numeric rank. */
export const LOWEST_RANK = -(MAX_MISSED_WINDOWS + 1) - 0.5;

const HASH_BITS = 2 ** 40;

/** cyrb53 (core/string-hash.ts), cut to 40 bits. */
function hash40(text: string): number {
  const { h1, h2 } = cyrb53Halves(text);
  return ((h2 & 0xff) * 2 ** 32 + (h1 >>> 0)) % HASH_BITS;
}

/** How many windows in a row a user has missed, read from the rank their current due time carries. */
export function missedWindowsOf(rank: number | undefined): number {
  if (rank === undefined || !Number.isFinite(rank) || rank >= 0) return 0;
  return Math.min(MAX_MISSED_WINDOWS, Math.ceil(-rank));
}

/**
 * The rank to store with a due time: in (0, 1) for a user who was served (or scheduled afresh),
 * and `missedWindows` whole steps lower for a user moved on without a message that many windows
 * in a row.
 */
export function dueRank({
  uid,
  dueAt,
  missedWindows = 0,
}: {
  uid: string;
  dueAt: number;
  missedWindows?: number;
}): number {
  const steps = Math.min(MAX_MISSED_WINDOWS + 1, Math.max(0, Math.floor(missedWindows)));
  return (hash40(`${uid}_${dueAt}`) + 0.5) / HASH_BITS - steps;
}
