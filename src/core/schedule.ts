/**
 * The scheduling rules of docs/scheduling.md, as pure functions.
 *
 * Nothing here reads the clock, the environment or the database: every function takes `now`
 * (Unix ms) and returns Unix ms. Local-time arithmetic goes through Temporal so that a zone's
 * rules (DST, half-hour and 45-minute offsets, southern-hemisphere summers) come from the IANA
 * database, never from hand-written offsets.
 */
import { Temporal } from "temporal-polyfill";

export const FREQUENCIES = ["daily", "multipleTimesPerWeek", "onceAWeek"] as const;
export type Frequency = (typeof FREQUENCIES)[number];

export const TIME_PREFERENCES = ["morning", "afternoon", "evening"] as const;
export type TimePreference = (typeof TIME_PREFERENCES)[number];

export interface TimeWindow {
  /** First local hour inside the window. */
  startHour: number;
  /** First local hour after the window (end exclusive). */
  endHour: number;
  /** Local hour at which scheduled messages are due. */
  targetHour: number;
}

export const TIME_WINDOWS: Readonly<Record<TimePreference, TimeWindow>> = {
  morning: { startHour: 6, endHour: 11, targetHour: 8 },
  afternoon: { startHour: 12, endHour: 17, targetHour: 14 },
  evening: { startHour: 18, endHour: 21, targetHour: 19 },
};

/** Local calendar days between two messages, by frequency. */
export const FREQUENCY_INTERVAL_DAYS: Readonly<Record<Frequency, number>> = {
  daily: 1,
  multipleTimesPerWeek: 2,
  onceAWeek: 7,
};

/** Upper bound of the random first due time of a user with no schedule yet, in hours from now. */
export const BOOTSTRAP_MAX_HOURS: Readonly<Record<Frequency, number>> = {
  daily: 7,
  multipleTimesPerWeek: 13,
  onceAWeek: 25,
};
/** Lower bound of the random first due time, in hours from now. */
export const BOOTSTRAP_MIN_HOURS = 1;

/** Delay before another attempt after a generation error or a failed quality gate. */
export const RETRY_INTERVAL_HOURS: Readonly<Record<Frequency, number>> = {
  daily: 2,
  multipleTimesPerWeek: 4,
  onceAWeek: 8,
};

const HOUR_MS = 3_600_000;

/** The part of a user's settings that the schedule depends on. */
export interface ScheduleSettings {
  timezone: string;
  frequency: Frequency;
  timePreference: TimePreference;
}

function zonedAt(at: number, timezone: string): Temporal.ZonedDateTime {
  return Temporal.Instant.fromEpochMilliseconds(at).toZonedDateTimeISO(timezone);
}

/** True when `timezone` is an IANA zone this runtime knows. */
export function isValidTimezone(timezone: string): boolean {
  try {
    Temporal.Now.instant().toZonedDateTimeISO(timezone);
    return true;
  } catch {
    return false;
  }
}

/** The user's local wall-clock time at `at`, for display and prompts ("2026-11-24T08:03"). */
export function localDateTime({ at, timezone }: { at: number; timezone: string }): string {
  return zonedAt(at, timezone).toPlainDateTime().toString({ smallestUnit: "minute" });
}

/** The user's local calendar date at `at` ("2026-11-24"). */
export function localDate({ at, timezone }: { at: number; timezone: string }): string {
  return zonedAt(at, timezone).toPlainDate().toString();
}

/**
 * Whether `at` falls inside the preferred window in the user's own zone.
 * Windows are end-exclusive: for the morning window, 10:59 is inside and 11:00 is not.
 */
export function isInsideWindow({
  at,
  timezone,
  timePreference,
}: {
  at: number;
  timezone: string;
  timePreference: TimePreference;
}): boolean {
  const { startHour, endHour } = TIME_WINDOWS[timePreference];
  const { hour } = zonedAt(at, timezone);
  return hour >= startHour && hour < endHour;
}

/**
 * The instant of `targetHour`:00 on a local calendar date. When DST makes that wall time
 * ambiguous or skipped, the `compatible` rule picks the earlier of two readings or moves
 * forward through a gap — the way a person's alarm clock behaves.
 */
function targetInstant(date: Temporal.PlainDate, timezone: string, targetHour: number): number {
  return date
    .toZonedDateTime({ timeZone: timezone, plainTime: Temporal.PlainTime.from({ hour: targetHour }) })
    .toInstant().epochMilliseconds;
}

/**
 * When the next message is due after one was sent at `now`: the target hour of the preferred
 * window, 1 (daily), 2 (multipleTimesPerWeek) or 7 (onceAWeek) local calendar days after the
 * local date of `now`. Counting calendar days rather than adding 24 h steps keeps the local
 * hour fixed across DST changes (a 23 h or 25 h day still lands on 08:00).
 */
export function nextDueAfterSuccess({
  now,
  timezone,
  frequency,
  timePreference,
}: { now: number } & ScheduleSettings): number {
  const date = zonedAt(now, timezone).toPlainDate().add({ days: FREQUENCY_INTERVAL_DAYS[frequency] });
  return targetInstant(date, timezone, TIME_WINDOWS[timePreference].targetHour);
}

/**
 * Where a user who is due but outside their window goes: the target hour of the next
 * occurrence of their window, strictly after `now`. That is today's target when the window is
 * still ahead today, otherwise tomorrow's.
 */
export function nextWindowTarget({
  now,
  timezone,
  timePreference,
}: {
  now: number;
  timezone: string;
  timePreference: TimePreference;
}): number {
  const { targetHour } = TIME_WINDOWS[timePreference];
  const today = zonedAt(now, timezone).toPlainDate();
  const todayTarget = targetInstant(today, timezone, targetHour);
  if (todayTarget > now) return todayTarget;
  return targetInstant(today.add({ days: 1 }), timezone, targetHour);
}

/**
 * First due time of a user with no schedule yet: a random instant 1–7 h (daily),
 * 1–13 h (multipleTimesPerWeek) or 1–25 h (onceAWeek) from now, so that new users enter the
 * rotation soon without all landing on the same tick. `random` returns a number in [0, 1).
 */
export function bootstrapDueAt({
  now,
  frequency,
  random,
}: {
  now: number;
  frequency: Frequency;
  random: () => number;
}): number {
  const spanMs = (BOOTSTRAP_MAX_HOURS[frequency] - BOOTSTRAP_MIN_HOURS) * HOUR_MS;
  return now + BOOTSTRAP_MIN_HOURS * HOUR_MS + Math.floor(random() * spanMs);
}

/**
 * When to try again after a generation error or a failed quality gate: the retry interval counted
 * on the scheduler's hourly tick grid, i.e. the top of the UTC hour 2 (daily), 4
 * (multipleTimesPerWeek) or 8 (onceAWeek) hours after the hour in which the run failed. A run that
 * fails in the hour starting at H was taken by the tick at H (or its chain); it is due again at
 * the tick `interval` hours after that one. Counted from the failure instant instead, a run that
 * fails at 08:00:05 would be due at 10:00:05, a moment after the 10:00 tick, and would wait for the
 * 11:00 tick, outside a morning window, losing the day's message to a few seconds. The retry is
 * therefore between `interval − 1` and `interval` hours after the failure, never later.
 */
export function retryDueAt({ now, frequency }: { now: number; frequency: Frequency }): number {
  return Math.floor(now / HOUR_MS) * HOUR_MS + RETRY_INTERVAL_HOURS[frequency] * HOUR_MS;
}
