/**
 * The UTC hours and days the metrics roll up (issue 15): bucket keys, which hours a rollup run
 * computes, and when a day's document can be written. Pure: `now` is passed in.
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/**
 * An hour is rolled up once it ended this long ago: a processor run stamps `createdAt`/`sentAt`
 * with the instant it started and runs for at most 300 s, so nothing lands in an hour later.
 */
export const HOUR_SETTLED_AFTER_MS = 10 * 60_000;

/** `2026-11-30T05`: the UTC hour that contains `at` (ids sort by time). */
export function hourKey(at: number): string {
  return new Date(hourStartOf(at)).toISOString().slice(0, 13);
}

/** `2026-11-30`: the UTC day that contains `at`. */
export function dayKey(at: number): string {
  return new Date(dayStartOf(at)).toISOString().slice(0, 10);
}

/** The start of the UTC hour that contains `at`. */
export function hourStartOf(at: number): number {
  return Math.floor(at / HOUR_MS) * HOUR_MS;
}

/** The start of the UTC day that contains `at`. */
export function dayStartOf(at: number): number {
  return Math.floor(at / DAY_MS) * DAY_MS;
}

/** The start of the hour a key names, or null for anything that is not one. */
export function parseHourKey(key: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}$/.test(key)) return null;
  const at = Date.parse(`${key}:00:00.000Z`);
  return Number.isFinite(at) && hourKey(at) === key ? at : null;
}

/** The start of the day a key names, or null for anything that is not one. */
export function parseDayKey(key: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(key)) return null;
  const at = Date.parse(`${key}T00:00:00.000Z`);
  return Number.isFinite(at) && dayKey(at) === key ? at : null;
}

/**
 * The settled hours of the last `lookbackHours` that have no rollup yet, newest first (the
 * latest figures are the ones an operator looks for), at most `maxHours`: a tick catches up a
 * few hours at a time, and an outage longer than the lookback leaves its hours out (the daily
 * document says which) rather than one tick doing days of work.
 */
export function hoursToRollUp({
  now,
  existing,
  lookbackHours,
  maxHours,
}: {
  now: number;
  existing: ReadonlySet<string>;
  lookbackHours: number;
  maxHours: number;
}): number[] {
  const lastSettled = hourStartOf(now - HOUR_SETTLED_AFTER_MS) - HOUR_MS;
  const hours: number[] = [];
  for (let index = 0; index < lookbackHours && hours.length < maxHours; index += 1) {
    const start = lastSettled - index * HOUR_MS;
    if (!existing.has(hourKey(start))) hours.push(start);
  }
  return hours;
}

/**
 * Days whose daily document can be written now: the day is over and either all its 24 hours are
 * rolled up, or the hours still missing have fallen out of the lookback (they never will be).
 */
export function dayIsComplete({
  dayStart,
  hoursPresent,
  now,
  lookbackHours,
}: {
  dayStart: number;
  hoursPresent: number;
  now: number;
  lookbackHours: number;
}): boolean {
  const dayEnd = dayStart + DAY_MS;
  if (dayEnd + HOUR_SETTLED_AFTER_MS > now) return false;
  if (hoursPresent >= 24) return true;
  return hourStartOf(now - HOUR_SETTLED_AFTER_MS) - lookbackHours * HOUR_MS >= dayEnd;
}
