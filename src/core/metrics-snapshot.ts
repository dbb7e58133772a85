/**
 * The metrics rollup's snapshot (issue 15): not a sum like a bucket's figures (`metrics.ts`) but
 * the state of things when the rollup ran (users by status and by the engine's mirror of
 * `coachingEnabled`, the outbox's queue), and the users an operator reads off it: enabled,
 * active (enabled and not suspended), suspended, disabled, and not yet looked at. Pure.
 */

/** Not a sum: the state of things when the rollup ran (users, the outbox's queue). */
export interface MetricsSnapshot {
  at: number;
  usersTotal: number;
  usersByStatus: Record<string, number>;
  pendingEvents: number;
  deadLetters: number;
  /**
   * Users whose engine-owned mirror `coachingEnabled` (core/user.ts) is true: coaching on as the
   * engine last read it. Absent on snapshots from before the mirror was counted, and on those
   * whose mirror counts failed (e.g. while their index was building).
   */
  usersEnabled?: number;
  /** Of `usersEnabled`, those suspended at `at` (`suspendUntil` after it). */
  usersEnabledSuspended?: number;
  /** Users whose mirror is false: coaching off as the engine last read it. */
  usersDisabled?: number;
}

/**
 * The snapshot's counts by the enable flag's mirror, counted apart from the rest: the
 * enabled-and-suspended count needs its own composite index, and while that index builds the
 * rest of the snapshot must still be stored.
 */
export type UserMirrorCounts = Required<
  Pick<MetricsSnapshot, "usersEnabled" | "usersEnabledSuspended" | "usersDisabled">
>;

/**
 * The counts a rollup takes beside the hour's figures, each of which may fail on its own and be
 * left out of the hour: the snapshot, and within it the counts by the enable flag's mirror.
 */
export const ROLLUP_COUNTS = ["snapshot", "usersByFlag"] as const;

export type RollupCount = (typeof ROLLUP_COUNTS)[number];

/** The users an operator reads off a snapshot; null where the snapshot lacks the mirror's counts. */
export interface UserFigures {
  /** The time of the snapshot they come from. */
  asOf: number;
  total: number;
  /** Coaching on, as of the engine's last look at each user. */
  enabled: number | null;
  /**
   * Enable flag on (as last seen), not suspended. Not quite "the users being coached": a user
   * whose document no longer reads but whose mirror says enabled is counted too.
   */
  active: number | null;
  /** Enabled but suspended. */
  suspended: number | null;
  /** Coaching off, as of the engine's last look. */
  disabled: number | null;
  /** Users the engine has not looked at since the mirror exists (neither enabled nor disabled yet). */
  notLookedAt: number | null;
}

/** Enabled, active (enabled minus suspended) and not-yet-seen users of a snapshot. */
export function userFigures(snapshot: MetricsSnapshot): UserFigures {
  const { usersTotal, usersEnabled, usersEnabledSuspended, usersDisabled } = snapshot;
  if (usersEnabled === undefined || usersEnabledSuspended === undefined || usersDisabled === undefined) {
    return {
      asOf: snapshot.at,
      total: usersTotal,
      enabled: null,
      active: null,
      suspended: null,
      disabled: null,
      notLookedAt: null,
    };
  }
  return {
    asOf: snapshot.at,
    total: usersTotal,
    enabled: usersEnabled,
    active: Math.max(0, usersEnabled - usersEnabledSuspended),
    suspended: usersEnabledSuspended,
    disabled: usersDisabled,
    // The three counts are separate aggregations: a write between them must not make this negative.
    notLookedAt: Math.max(0, usersTotal - usersEnabled - usersDisabled),
  };
}

/** How much older than the newest snapshot the one the users by the enable flag come from may be. */
export const USER_FIGURES_MAX_LAG_MS = 24 * 3_600_000;

/**
 * The snapshot an operator's user figures come from, among `snapshots` newest first: the newest
 * one that has the counts by the enable flag (counted apart, they may fail alone), if it is at
 * most `USER_FIGURES_MAX_LAG_MS` older than the newest snapshot; else the newest (its figures by
 * the flag then read as unknown rather than days old). Null when there is none.
 */
export function snapshotForUserFigures(
  snapshots: readonly (MetricsSnapshot | null)[],
): MetricsSnapshot | null {
  const present = snapshots.filter((snapshot): snapshot is MetricsSnapshot => snapshot !== null);
  const newest = present[0];
  if (!newest) return null;
  const counted = present.find((snapshot) => snapshot.usersEnabled !== undefined);
  return counted && newest.at - counted.at <= USER_FIGURES_MAX_LAG_MS ? counted : newest;
}

/**
 * The snapshot a day document keeps, of its hours' in order: the last one that has the counts by
 * the enable flag, else the last one at all (null when no hour has one).
 */
export function daySnapshot(hourSnapshots: readonly (MetricsSnapshot | null)[]): MetricsSnapshot | null {
  const present = hourSnapshots.filter((snapshot): snapshot is MetricsSnapshot => snapshot !== null);
  return present.findLast((snapshot) => snapshot.usersEnabled !== undefined) ?? present.at(-1) ?? null;
}
